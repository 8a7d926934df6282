import type { ServerResponse } from "node:http";
import type { z } from "zod";

export function send(
  response: ServerResponse,
  status: number,
  body: unknown,
  type = "application/json",
  headers: Record<string, string | string[]> = {},
): void {
  response.writeHead(status, { ...headers, "content-type": type });
  response.end(type === "application/json" ? JSON.stringify(body) : String(body));
}

/** zod's issues as one line, each naming its field (`(body)` for the body as a whole). */
export function issuesOf(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join(".") || "(body)"}: ${i.message}`).join("; ");
}

export function parseJson(text: string): { ok: true; value: unknown } | { ok: false; message: string } {
  try {
    return { ok: true, value: JSON.parse(text || "{}") };
  } catch (error) {
    return { ok: false, message: `the body is not JSON: ${(error as Error).message}` };
  }
}
