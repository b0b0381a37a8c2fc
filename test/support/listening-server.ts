/**
 * The real server listening on 127.0.0.1 (an ephemeral port), for clients that need real sockets such as the
 * simulated caller. Its stream tokens are wrapped to record every check, and a test may add routes or hooks.
 */
import type { FastifyInstance } from "fastify";
import { createLogger } from "../../src/logger.js";
import { buildServer, type Server } from "../../src/server.js";
import type { CallFactory } from "../../src/twilio/media-stream-session.js";
import { createStreamTokens, type TokenCheck } from "../../src/twilio/stream-token.js";
import { LogCapture, testConfig } from "./test-server.js";

export interface ListeningServer {
  server: Server;
  /** `http://127.0.0.1:<port>` */
  url: string;
  logs: LogCapture;
  /** Every stream token check: the token `start` carried, the call it claimed, the verdict. */
  tokenChecks: { token: string | undefined; callSid: string; result: TokenCheck }[];
  close(): Promise<void>;
}

export async function startListeningServer(options: {
  env?: Record<string, string>;
  createCall: CallFactory;
  /** Called before the server listens: add routes or hooks. */
  extend?: (app: FastifyInstance) => void;
}): Promise<ListeningServer> {
  const config = testConfig(options.env);
  const logs = new LogCapture();
  const logger = createLogger({ level: "debug", secrets: config.secrets, destination: logs });
  const tokens = createStreamTokens({ ttlSeconds: 60 });
  const tokenChecks: ListeningServer["tokenChecks"] = [];
  const server = await buildServer({
    config,
    logger,
    createCall: options.createCall,
    tokens: {
      issue: (callSid) => tokens.issue(callSid),
      verify: (token, callSid) => {
        const result = tokens.verify(token, callSid);
        tokenChecks.push({ token, callSid, result });
        return result;
      },
    },
  });
  options.extend?.(server.app);
  await server.app.listen({ port: 0, host: "127.0.0.1" });
  const address = server.app.server.address();
  if (address === null || typeof address === "string") throw new Error("server has no TCP address");
  return {
    server,
    url: `http://127.0.0.1:${address.port}`,
    logs,
    tokenChecks,
    close: () => server.app.close(),
  };
}
