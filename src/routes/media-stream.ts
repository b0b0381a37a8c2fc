/**
 * `GET /twilio/stream`: the Media Streams WebSocket. The upgrade itself is refused (403, before any
 * WebSocket exists) when its X-Twilio-Signature is wrong; the stream token is checked on `start`.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { sourceAddress } from "../client-address.js";
import { streamUrl } from "../config.js";
import type { ServerContext } from "../server-context.js";
import { handleMediaStream } from "../twilio/media-stream-session.js";
import { isTwilioSignatureValid } from "../twilio/signature.js";
import { type AdmittedStream, createStreamAdmission } from "../twilio/stream-admission.js";

export function registerMediaStreamRoute(app: FastifyInstance, context: ServerContext): void {
  const { env } = context.config;
  const checkUpgradeSignature = Boolean(env.TWILIO_AUTH_TOKEN) && env.TWILIO_VALIDATE_STREAM_SIGNATURE;
  const admission = createStreamAdmission({
    maxPending: env.MAX_PENDING_STREAMS,
    maxPerSource: env.MAX_STREAMS_PER_SOURCE,
  });
  // The upgrade's admission, handed from preValidation to the socket handler.
  const admitted = new WeakMap<FastifyRequest, AdmittedStream>();
  const startTimeoutMs = env.STREAM_START_TIMEOUT_SECONDS * 1000;

  app.get(
    "/twilio/stream",
    {
      websocket: true,
      preValidation: async (request, reply) => {
        if (context.draining) {
          return reply.code(503).send("Service Unavailable: shutting down\n");
        }
        if (checkUpgradeSignature && env.TWILIO_AUTH_TOKEN) {
          // Twilio signs the stream URL it was given, with no form parameters.
          const url = streamUrl(env);
          const signature = request.headers["x-twilio-signature"];
          if (!isTwilioSignatureValid(env.TWILIO_AUTH_TOKEN, signature, url, {})) {
            context.metrics.refusedStreams.inc({ reason: "signature" });
            request.log.warn(
              { url },
              "refused media stream upgrade: X-Twilio-Signature does not match (TWILIO_VALIDATE_STREAM_SIGNATURE=false turns this check off)",
            );
            return reply.code(403).send("Forbidden: invalid Twilio signature\n");
          }
        }
        const source = sourceAddress(request);
        const admittance = admission.admit(source);
        if (typeof admittance === "string") {
          context.metrics.refusedStreams.inc({ reason: admittance });
          request.log.warn({ source, reason: admittance }, `refused media stream upgrade: ${admittance}`);
          const status = admittance === "too many pending streams" ? 503 : 429;
          return reply.code(status).send(`Refused: ${admittance}\n`);
        }
        admitted.set(request, admittance);
        // Released however the connection ends, even when the handshake never completes.
        request.raw.socket?.once?.("close", () => admittance.release());
      },
    },
    (socket, request) => {
      const admittance = admitted.get(request);
      socket.once("close", () => admittance?.release());
      handleMediaStream({
        socket,
        log: request.log,
        createCall: context.createCall,
        tokens: context.tokens,
        observer: {
          dropped: (kind) => context.metrics.droppedTwilioMessages.inc({ reason: kind }),
          refused: (reason) => context.metrics.refusedStreams.inc({ reason: `token ${reason}` }),
          started: () => admittance?.started(),
          timedOut: () => context.metrics.refusedStreams.inc({ reason: "no start" }),
        },
        startDeadline: (onExpired) => context.schedule(startTimeoutMs, onExpired),
      });
    },
  );
}
