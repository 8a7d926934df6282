import type { CheckedRequest } from "./shape.js";

/** One page of `all`, with the Link header GitHub sends (the request's query kept, its page moved). */
export function page<T>(request: CheckedRequest, all: readonly T[]): { items: T[]; headers: Record<string, string> } {
  const url = new URL(request.url, "http://x");
  const perPage = Math.min(100, Number(url.searchParams.get("per_page") ?? 30));
  const at = Number(url.searchParams.get("page") ?? 1);
  const last = Math.max(1, Math.ceil(all.length / perPage));
  const link = (n: number, rel: string) => {
    url.searchParams.set("page", String(n));
    return `<${request.path}?${url.searchParams}>; rel="${rel}"`;
  };
  const headers: Record<string, string> = at < last ? { link: [link(at + 1, "next"), link(last, "last")].join(", ") } : {};
  return { items: all.slice((at - 1) * perPage, at * perPage), headers };
}
