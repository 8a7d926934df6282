import { isIPv6 } from "node:net";

const MB = 1024 * 1024;

/** What request bodies may hold of the App's memory, and for how long one may take to arrive. */
export interface BodyLimits {
  /** Bytes all bodies being read or handled may hold at once. */
  totalBytes: number;
  /**
   * Bytes the bodies of one client (one IPv4 address, or one IPv6 /64) may hold at once: at
   * least the largest body a route takes (a webhook's 25 MB), or such a body is never read.
   */
  perClientBytes: number;
  /** How long a body may take from its first byte asked for to its last. */
  timeoutMs: number;
}

/**
 * Room for a few of GitHub's largest deliveries (25 MB) at once, and for one of them, with
 * its small neighbours, per client: a client alone cannot take more than a quarter of the
 * whole. GitHub waits 10 s for a delivery's answer, so a body still arriving after 30 s is
 * not GitHub's.
 */
export const DEFAULT_BODY_LIMITS: Readonly<BodyLimits> = { totalBytes: 128 * MB, perClientBytes: 32 * MB, timeoutMs: 30_000 };

/** Which limit a body did not fit: the App's as a whole (503), or its client's (429). */
export type BudgetRefusal = "total" | "client";

/**
 * Who a request comes from, for the per-client limit: its IPv4 address, or its IPv6
 * address's /64, which one host is commonly given whole.
 */
export function clientOf(address: string | undefined): string {
  if (!address) return "unknown";
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!isIPv6(address)) return address;
  const [head = "", tail = ""] = address.split("%")[0]!.split("::");
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = address.includes("::") ? [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right] : left;
  return `${groups
    .slice(0, 4)
    .map((g) => g.toLowerCase().replace(/^0+(?=.)/, ""))
    .join(":")}::/64`;
}

/**
 * The bytes request bodies hold, in total and per client. Every byte a body buffers is
 * taken here first, so the App never holds more than the limits however many clients send.
 */
export class BodyBudget {
  private total = 0;
  private readonly byClient = new Map<string, number>();

  constructor(
    readonly limits: BodyLimits,
    /** Hears the bytes held in total after every change: what a test or a metric reads. */
    private readonly onHeld: (bytes: number) => void = () => undefined,
  ) {}

  /** Takes `bytes` for `client`, or takes nothing and names the limit in the way. */
  take(client: string, bytes: number): BudgetRefusal | null {
    const mine = this.byClient.get(client) ?? 0;
    if (mine + bytes > this.limits.perClientBytes) return "client";
    if (this.total + bytes > this.limits.totalBytes) return "total";
    this.byClient.set(client, mine + bytes);
    this.total += bytes;
    this.onHeld(this.total);
    return null;
  }

  give(client: string, bytes: number): void {
    if (bytes <= 0) return;
    const left = (this.byClient.get(client) ?? 0) - bytes;
    if (left > 0) this.byClient.set(client, left);
    else this.byClient.delete(client);
    this.total -= bytes;
    this.onHeld(this.total);
  }
}
