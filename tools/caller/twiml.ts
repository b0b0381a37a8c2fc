/**
 * Reads the voice webhook's answer the way Twilio does for a media stream agent: the TwiML must be
 * `<Response><Connect><Stream url="wss://...">` with optional `<Parameter name value>` children. Anything else
 * is refused with a message that says what was found instead.
 *
 * A tiny purpose-built reader, not a general XML parser: TwiML from the server is machine-written, and the
 * only things we need are one element's attributes and its children's.
 */
import { CallerError } from "./errors.js";

export interface StreamInstruction {
  /** The `wss://` URL Twilio would open (and sign, for the upgrade's X-Twilio-Signature). */
  url: string;
  /** Every `<Parameter>`, handed back in `start.customParameters`. */
  parameters: Record<string, string>;
}

export function parseConnectStreamTwiml(xml: string): StreamInstruction {
  const excerpt = xml.length > 300 ? `${xml.slice(0, 300)}...` : xml;
  if (!/<Response\b/.test(xml)) {
    throw new CallerError("bad-twiml", `the voice webhook did not answer with TwiML: ${excerpt}`);
  }
  const connect = /<Connect\b[^>]*>([\s\S]*?)<\/Connect>/.exec(xml);
  if (!connect) {
    const listenOnly = /<Start\b[^>]*>\s*<Stream\b/.test(xml)
      ? " (<Start><Stream> only forks audio one way; the agent needs <Connect><Stream>)"
      : "";
    throw new CallerError(
      "bad-twiml",
      `the voice webhook's TwiML has no <Connect><Stream>${listenOnly}: ${excerpt}`,
    );
  }
  const body = connect[1] as string;
  const stream = /<Stream\b([^>]*?)(\/>|>([\s\S]*?)<\/Stream>)/.exec(body);
  if (!stream) {
    throw new CallerError("bad-twiml", `the TwiML's <Connect> holds no <Stream>: ${excerpt}`);
  }
  const url = attributes(stream[1] as string).url;
  if (!url) throw new CallerError("bad-twiml", `the TwiML's <Stream> has no url attribute: ${excerpt}`);
  if (!url.startsWith("wss://")) {
    throw new CallerError("bad-twiml", `the <Stream> url ${url} is not wss://, and Twilio opens only wss://`);
  }
  const parameters: Record<string, string> = {};
  for (const match of (stream[3] ?? "").matchAll(/<Parameter\b([^>]*?)\/?>/g)) {
    const { name, value } = attributes(match[1] as string);
    if (name !== undefined) parameters[name] = value ?? "";
  }
  return { url, parameters };
}

function attributes(text: string): Record<string, string> {
  const result: Record<string, string> = {};
  for (const match of text.matchAll(/([A-Za-z_][\w.-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) {
    result[match[1] as string] = decodeEntities(match[2] ?? match[3] ?? "");
  }
  return result;
}

const NAMED_ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#\d+|amp|lt|gt|quot|apos);/g, (_, entity: string) => {
    if (entity.startsWith("#x")) return String.fromCodePoint(Number.parseInt(entity.slice(2), 16));
    if (entity.startsWith("#")) return String.fromCodePoint(Number.parseInt(entity.slice(1), 10));
    return NAMED_ENTITIES[entity] as string;
  });
}
