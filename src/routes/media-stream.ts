/**
 * `GET /twilio/stream`: the Media Streams WebSocket. The upgrade itself is refused (403, before any
 * WebSocket exists) when its X-Twilio-Signature is wrong; the stream token is checked on `start`.
 */
import type { FastifyInstance } from "fastify";
import { streamUrl } from "../config.js";
import type { ServerContext } from "../server-context.js";
import { handleMediaStream } from "../twilio/media-stream-session.js";
import { isTwilioSignatureValid } from "../twilio/signature.js";

export function registerMediaStreamRoute(app: FastifyInstance, context: ServerContext): void {
  const { env } = context.config;
  const checkUpgradeSignature = Boolean(env.TWILIO_AUTH_TOKEN) && env.TWILIO_VALIDATE_STREAM_SIGNATURE;

  app.get(
    "/twilio/stream",
    {
      websocket: true,
      preValidation: async (request, reply) => {
        if (context.draining) {
          return reply.code(503).send("Service Unavailable: shutting down\n");
        }
        if (!checkUpgradeSignature || !env.TWILIO_AUTH_TOKEN) return;
        // Twilio signs the stream URL it was given, with no form parameters.
        const url = streamUrl(env);
        if (isTwilioSignatureValid(env.TWILIO_AUTH_TOKEN, request.headers["x-twilio-signature"], url, {}))
          return;
        context.metrics.refusedStreams.inc({ reason: "signature" });
        request.log.warn(
          { url },
          "refused media stream upgrade: X-Twilio-Signature does not match (TWILIO_VALIDATE_STREAM_SIGNATURE=false turns this check off)",
        );
        return reply.code(403).send("Forbidden: invalid Twilio signature\n");
      },
    },
    (socket, request) => {
      handleMediaStream({
        socket,
        log: request.log,
        createCall: context.createCall,
        tokens: context.tokens,
        observer: {
          dropped: (kind) => context.metrics.droppedTwilioMessages.inc({ reason: kind }),
          refused: (reason) => context.metrics.refusedStreams.inc({ reason: `token ${reason}` }),
        },
      });
    },
  );
}
