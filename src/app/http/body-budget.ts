import { isIPv6 } from "node:net";

const MB = 1024 * 1024;

/** What request bodies may hold of the App's memory, and how fast and how long they must arrive. */
export interface BodyLimits {
  /** Bytes all bodies being read or handled may hold at once. */
  totalBytes: number;
  /**
   * Bytes the bodies of one client (one IPv4 address, or one IPv6 /64) may hold at once: at
   * least the largest body a route takes (a webhook's 25 MB), or such a body is never read.
   */
  perClientBytes: number;
  /** Bodies one client may have arriving at once. */
  bodiesPerClient: number;
  /** How long a body may take from its first byte asked for to its last. */
  timeoutMs: number;
  /**
   * The slowest a body may arrive: in every window of `rateWindowMs` from its first byte
   * asked for, at least `minBytesPerSecond` per second of it, or it is cut off. The first
   * window is the grace a body has to start.
   */
  minBytesPerSecond: number;
  rateWindowMs: number;
}

/**
 * Room for a few of GitHub's largest deliveries (25 MB) at once, and for one of them, with
 * its small neighbours, per client: a client alone cannot take more than a quarter of the
 * whole. GitHub waits 10 s for a delivery's answer, so a body still arriving after 30 s is
 * not GitHub's, nor is one that stalls for 2 s: GitHub has to send 25 MB at 2.5 MB/s to be
 * answered in time, and 64 KB/s is a slow link's pace. As bytes are taken only as they
 * arrive, a body costs what its client has sent, and a stalled one is dropped within two
 * windows; what one client can still make the App hold by trickling is capped by its 32 MB.
 *
 * 32 bodies at once per client: connections cost a client nothing to open, and each body
 * being read costs the App a socket and its timers, whether or not a byte of it has
 * arrived. GitHub delivers from a pool of addresses and does not deliver again after a
 * refusal, and an App whose event loop was busy for a moment starts reading a burst of
 * deliveries together: the cap is set well above such a burst from one address (a tighter
 * one refused deliveries in kto's own load test), and the byte caps bound the rest.
 */
export const DEFAULT_BODY_LIMITS: Readonly<BodyLimits> = {
  totalBytes: 128 * MB,
  perClientBytes: 32 * MB,
  bodiesPerClient: 32,
  timeoutMs: 30_000,
  minBytesPerSecond: 64 * 1024,
  rateWindowMs: 2_000,
};

/** Which limit a body did not fit: the App's as a whole (503), or its client's bytes or count of bodies (429). */
export type BudgetRefusal = "total" | "client" | "bodies";

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

interface ClientHolding {
  bytes: number;
  bodies: number;
}

/**
 * The bytes request bodies hold, in total and per client, and how many bodies each client
 * has arriving. Every byte a body buffers is taken here first, through its account, so the
 * App never holds more than the limits however many clients send, and never gives back
 * more than a body took.
 */
export class BodyBudget {
  private total = 0;
  private readonly byClient = new Map<string, ClientHolding>();

  constructor(
    readonly limits: BodyLimits,
    /** Hears the bytes held in total after every change: what a test or a metric reads. */
    private readonly onHeld: (bytes: number) => void = () => undefined,
  ) {}

  /** Counts one more body arriving from `client`, or names the limit in the way. */
  open(client: string): BodyAccount | BudgetRefusal {
    const mine = this.holding(client);
    if (mine.bodies >= this.limits.bodiesPerClient) return "bodies";
    mine.bodies += 1;
    this.byClient.set(client, mine);
    return new BodyAccount(this, client);
  }

  /** @internal BodyAccount's: takes `bytes` for `client`, or takes nothing and names the limit in the way. */
  take(client: string, bytes: number): BudgetRefusal | null {
    const mine = this.holding(client);
    if (mine.bytes + bytes > this.limits.perClientBytes) return "client";
    if (this.total + bytes > this.limits.totalBytes) return "total";
    mine.bytes += bytes;
    this.byClient.set(client, mine);
    this.total += bytes;
    this.onHeld(this.total);
    return null;
  }

  /** @internal BodyAccount's: gives back bytes and bodies `client` took. */
  give(client: string, bytes: number, bodies: number): void {
    const mine = this.holding(client);
    mine.bytes -= bytes;
    mine.bodies -= bodies;
    if (mine.bytes <= 0 && mine.bodies <= 0) this.byClient.delete(client);
    if (bytes <= 0) return;
    this.total -= bytes;
    this.onHeld(this.total);
  }

  private holding(client: string): ClientHolding {
    return this.byClient.get(client) ?? { bytes: 0, bodies: 0 };
  }
}

/** One body's share of the budget: its bytes, and its place among its client's bodies arriving. */
export class BodyAccount {
  private bytes = 0;
  private arriving = 1;

  constructor(
    private readonly budget: BodyBudget,
    private readonly client: string,
  ) {}

  /** Takes `bytes` more for this body, or takes nothing and names the limit in the way. */
  take(bytes: number): BudgetRefusal | null {
    const refused = this.budget.take(this.client, bytes);
    if (!refused) this.bytes += bytes;
    return refused;
  }

  /** The body has stopped arriving (whole or not): its client may start another in its place. */
  arrived(): void {
    this.budget.give(this.client, 0, this.arriving);
    this.arriving = 0;
  }

  /** Gives back all this body holds; once is enough, and more is harmless. */
  close(): void {
    this.budget.give(this.client, this.bytes, this.arriving);
    this.bytes = 0;
    this.arriving = 0;
  }
}
