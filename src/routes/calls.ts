/**
 * `GET /calls`: the calls in progress and where each one's statechart is, as JSON. With `CALLS_API_KEY` set,
 * only requests carrying `Authorization: Bearer <key>` see it (caller numbers are personal data).
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyInstance } from "fastify";
import type { ServerContext } from "../server-context.js";

export function registerCallsRoute(app: FastifyInstance, context: ServerContext): void {
  const apiKey = context.config.env.CALLS_API_KEY;
  const expected = apiKey ? digest(apiKey) : undefined;

  app.get("/calls", async (request, reply) => {
    if (expected && !bearerMatches(request.headers.authorization, expected)) {
      request.log.warn(
        { hasAuthorization: Boolean(request.headers.authorization) },
        "GET /calls refused: bad API key",
      );
      return reply
        .code(401)
        .header("www-authenticate", 'Bearer realm="calls"')
        .send({ error: "GET /calls needs Authorization: Bearer <CALLS_API_KEY>" });
    }
    return reply.send({ calls: context.liveCalls.list() });
  });
}

/** Compared as digests, so neither the key's content nor its length shows in the time taken. */
function bearerMatches(header: string | undefined, expected: Buffer): boolean {
  const match = /^Bearer\s+(.+)$/i.exec(header ?? "");
  const presented = match?.[1]?.trim();
  return presented !== undefined && timingSafeEqual(digest(presented), expected);
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}
