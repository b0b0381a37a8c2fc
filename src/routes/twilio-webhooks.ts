/**
 * The voice webhook (a call comes in: answer with TwiML that opens the media stream) and the status
 * callback (a call ended: its usage record). Both are checked against X-Twilio-Signature when an auth
 * token is configured.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { streamUrl } from "../config.js";
import type { ServerContext } from "../server-context.js";
import { isTwilioSignatureValid, signedUrl } from "../twilio/signature.js";
import { connectStreamTwiml } from "../twilio/twiml.js";

type FormBody = Record<string, string>;

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

  app.post("/twilio/voice", async (request, reply) => {
    if (!verified(request, reply, "voice")) return reply;
    const body = formBody(request.body);
    const callSid = body.CallSid;
    if (!callSid) {
      request.log.warn("voice webhook without a CallSid");
      return reply.code(400).type("text/plain").send("Bad Request: CallSid is required\n");
    }
    const log = request.log.child({ callSid });
    log.info(
      { from: body.From, to: body.To, direction: body.Direction },
      "incoming call: answering with a media stream",
    );
    const twiml = connectStreamTwiml({
      streamUrl: streamUrl(env),
      parameters: { from: body.From ?? "", to: body.To ?? "", token: context.tokens.issue(callSid) },
    });
    return reply.type("text/xml").send(twiml);
  });

  app.post("/twilio/status", async (request, reply) => {
    if (!verified(request, reply, "status")) return reply;
    const body = formBody(request.body);
    request.log.info(
      {
        callSid: body.CallSid,
        from: body.From,
        to: body.To,
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
