/**
 * The voice webhook (a call comes in: answer with TwiML that opens the media stream) and the status
 * callback (a call ended: its usage record). Both are checked against X-Twilio-Signature when an auth
 * token is configured.
 *
 * Before that check, each source address gets a request budget per minute (counted on arrival, before the
 * body is read) and the body a size and parameter limit (see webhook-limits.ts): what is refused there costs
 * neither parsing nor an HMAC.
 */
import type {
  FastifyError,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  RouteShorthandOptions,
} from "fastify";
import { sourceAddress } from "../client-address.js";
import { streamUrl } from "../config.js";
import { loggablePhoneNumber } from "../phone-number-privacy.js";
import type { ServerContext } from "../server-context.js";
import { isTwilioSignatureValid, signedUrl } from "../twilio/signature.js";
import { connectStreamTwiml } from "../twilio/twiml.js";
import { TooManyFormParametersError, WEBHOOK_BODY_LIMIT_BYTES } from "../twilio/webhook-limits.js";

type FormBody = Record<string, string>;
type WebhookRoute = "voice" | "status";
type Refusal = "rate_limited" | "body_too_large" | "too_many_parameters";

/** The refusals this file owns; any other error goes on to Fastify's own handler. */
function refusalReason(error: FastifyError): Refusal | undefined {
  if (error instanceof TooManyFormParametersError) return "too_many_parameters";
  if (error.code === "FST_ERR_CTP_BODY_TOO_LARGE") return "body_too_large";
  // @fastify/rate-limit throws a plain Error carrying the status.
  if (error.statusCode === 429) return "rate_limited";
  return undefined;
}

export function registerTwilioWebhooks(app: FastifyInstance, context: ServerContext): void {
  const { env } = context.config;

  /** Answers 403 and returns false when the request is not signed by Twilio with our token. */
  const verified = (request: FastifyRequest, reply: FastifyReply, route: string): boolean => {
    if (!env.TWILIO_AUTH_TOKEN) return true;
    const body = formBody(request.body);
    const url = signedUrl(env.PUBLIC_URL, request.url);
    if (isTwilioSignatureValid(env.TWILIO_AUTH_TOKEN, request.headers["x-twilio-signature"], url, body)) {
      return true;
    }
    context.metrics.rejectedWebhooks.inc({ route });
    request.log.warn(
      { url, hasSignature: Boolean(request.headers["x-twilio-signature"]) },
      "rejected webhook: X-Twilio-Signature does not match (is PUBLIC_URL the URL Twilio calls?)",
    );
    void reply.code(403).type("text/plain").send("Forbidden: invalid Twilio signature\n");
    return false;
  };

  /** Each webhook route has its own budget per source. */
  const guarded = (route: WebhookRoute): RouteShorthandOptions => ({
    bodyLimit: WEBHOOK_BODY_LIMIT_BYTES,
    config: {
      rateLimit: {
        max: env.WEBHOOK_RATE_LIMIT_PER_MINUTE,
        timeWindow: 60_000,
        keyGenerator: sourceAddress,
      },
    },
    errorHandler: (error: FastifyError, request, reply) => {
      const reason = refusalReason(error);
      if (!reason) throw error;
      context.metrics.refusedWebhooks.inc({ route, reason });
      request.log.warn(
        { route, reason, source: sourceAddress(request) },
        `refused webhook: ${error.message}`,
      );
      return reply
        .code(error.statusCode ?? 400)
        .type("text/plain")
        .send(`${error.message}\n`);
    },
  });

  app.post("/twilio/voice", guarded("voice"), async (request, reply) => {
    if (!verified(request, reply, "voice")) return reply;
    const body = formBody(request.body);
    const callSid = body.CallSid;
    if (!callSid) {
      request.log.warn("voice webhook without a CallSid");
      return reply.code(400).type("text/plain").send("Bad Request: CallSid is required\n");
    }
    const log = request.log.child({ callSid });
    log.info(
      {
        from: loggablePhoneNumber(body.From, env.LOG_PHONE_NUMBERS),
        to: loggablePhoneNumber(body.To, env.LOG_PHONE_NUMBERS),
        direction: body.Direction,
      },
      "incoming call: answering with a media stream",
    );
    const twiml = connectStreamTwiml({
      streamUrl: streamUrl(env),
      parameters: { from: body.From ?? "", to: body.To ?? "", token: context.tokens.issue(callSid) },
    });
    return reply.type("text/xml").send(twiml);
  });

  app.post("/twilio/status", guarded("status"), async (request, reply) => {
    if (!verified(request, reply, "status")) return reply;
    const body = formBody(request.body);
    request.log.info(
      {
        callSid: body.CallSid,
        from: loggablePhoneNumber(body.From, env.LOG_PHONE_NUMBERS),
        to: loggablePhoneNumber(body.To, env.LOG_PHONE_NUMBERS),
        callStatus: body.CallStatus,
        callDuration: body.CallDuration === undefined ? undefined : Number(body.CallDuration),
      },
      "call status",
    );
    return reply.code(204).send();
  });
}

/** Twilio posts application/x-www-form-urlencoded; anything else reads as empty and fails validation. */
function formBody(body: unknown): FormBody {
  if (typeof body !== "object" || body === null) return {};
  const result: FormBody = {};
  for (const [key, value] of Object.entries(body)) {
    if (typeof value === "string") result[key] = value;
  }
  return result;
}
