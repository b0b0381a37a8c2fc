/**
 * Twilio request signatures (X-Twilio-Signature), checked with the `twilio` library so the algorithm (HMAC
 * over the URL and sorted form parameters, tried with and without the default port) stays Twilio's own.
 */
import twilio from "twilio";

export function isTwilioSignatureValid(
  authToken: string,
  signature: string | string[] | undefined,
  url: string,
  params: Record<string, string>,
): boolean {
  if (typeof signature !== "string" || signature.length === 0) return false;
  return twilio.validateRequest(authToken, signature, url, params);
}

/** The URL Twilio signed: the public base (which may carry a path prefix) plus the path and query we saw. */
export function signedUrl(publicUrl: string, requestUrl: string): string {
  return `${publicUrl.replace(/\/+$/, "")}${requestUrl}`;
}
