import type { FastifyInstance } from "fastify";
import type { ServerContext } from "../server-context.js";

export function registerHealthAndMetrics(app: FastifyInstance, context: ServerContext): void {
  app.get("/health", async (_request, reply) => {
    const body = {
      status: context.draining ? "draining" : "ok",
      activeCalls: context.activeCalls(),
      uptimeSeconds: Math.round(process.uptime()),
      engines: context.engineStatus(),
    };
    return reply.code(context.draining ? 503 : 200).send(body);
  });

  app.get("/metrics", async (_request, reply) => {
    const text = await context.metrics.registry.metrics();
    return reply.type(context.metrics.registry.contentType).send(text);
  });
}
