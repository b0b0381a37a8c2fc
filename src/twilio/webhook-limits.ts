/**
 * What a Twilio webhook can be: a form of a few dozen parameters in a few KB (the longest, CallToken and
 * SIP headers, stay well under 10 KB). Anything far bigger is refused before it costs parsing or a
 * signature check, because both run on the event loop every call shares: a 1 MiB form of 120,000
 * parameters blocked it for seconds.
 */
import { parse } from "node:querystring";

/** The body a webhook may have; a larger Content-Length is refused before the body is read. */
export const WEBHOOK_BODY_LIMIT_BYTES = 64 * 1024;
/** Twilio sends about 20 to 40 parameters; room for many custom SIP headers on top. */
export const WEBHOOK_MAX_PARAMETERS = 200;

/** Thrown by the form parser; Fastify answers with its status code. */
export class TooManyFormParametersError extends Error {
  readonly statusCode = 413;
  readonly code = "TOO_MANY_FORM_PARAMETERS";
  constructor() {
    super(`Payload Too Large: more than ${WEBHOOK_MAX_PARAMETERS} form parameters`);
    this.name = "TooManyFormParametersError";
  }
}

/** Counts the separators (one cheap scan) before anything is split or decoded. */
export function parseWebhookForm(body: string): Record<string, unknown> {
  if (countParameters(body) > WEBHOOK_MAX_PARAMETERS) throw new TooManyFormParametersError();
  // maxKeys 0: no silent truncation (the count above already refused a body with too many).
  return parse(body, "&", "=", { maxKeys: 0 });
}

function countParameters(body: string): number {
  if (body.length === 0) return 0;
  let count = 1;
  for (let at = body.indexOf("&"); at !== -1; at = body.indexOf("&", at + 1)) count += 1;
  return count;
}
