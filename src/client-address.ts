/**
 * Where a request came from, judged without believing what a client says about itself.
 *
 * The server trusts proxy headers (`trustProxy`), so Fastify's `request.ip` is the leftmost
 * X-Forwarded-For entry: whatever the client wrote there. Per-source limits read the socket
 * instead, and take a forwarded address only from a proxy on this machine (a loopback peer), and then only
 * the entry that proxy appended itself (the last one). Behind a proxy on another machine every request
 * counts as coming from that proxy.
 */
import type { IncomingMessage } from "node:http";

type RequestLike = { raw: Pick<IncomingMessage, "headers" | "socket"> };

/** The address a per-source limit is counted against. */
export function sourceAddress(request: RequestLike): string {
  const peer = peerAddress(request);
  const forwarded = forwardedChain(request);
  return isLoopbackAddress(peer) && forwarded.length > 0 ? (forwarded.at(-1) as string) : peer;
}

function isLoopbackAddress(address: string): boolean {
  const v4 = address.startsWith("::ffff:") ? address.slice("::ffff:".length) : address;
  return /^127(\.\d{1,3}){3}$/.test(v4) || address === "::1";
}

function peerAddress(request: RequestLike): string {
  return request.raw.socket?.remoteAddress ?? "";
}

function forwardedChain(request: RequestLike): string[] {
  const header = request.raw.headers["x-forwarded-for"];
  const joined = Array.isArray(header) ? header.join(",") : (header ?? "");
  return joined
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
}
