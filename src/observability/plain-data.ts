/**
 * Turns whatever an actor holds (contexts, inputs, events) into plain JSON-able data that is safe to show
 * outside the process: audio becomes its length, engines and other objects with behaviour become their class
 * name, and anything stored under a name that looks like a credential is replaced. Used for the Stately
 * inspector, which would otherwise serialise SDK clients (API keys included) and audio buffers.
 */

export const REDACTED = "[redacted]";

/** Field names that may hold a credential, in any engine or option object an actor happens to carry. */
const CREDENTIAL_KEY = /(api[-_]?key|token|secret|password|authorization|credentials?|cookie)$/i;

/** Deeper than any call context or event goes; past it a value is summarised, never walked. */
const MAX_DEPTH = 12;

export function plainData(value: unknown, depth = MAX_DEPTH): unknown {
  if (value === null || typeof value !== "object") {
    if (typeof value === "function" || typeof value === "symbol") return undefined;
    if (typeof value === "bigint") return value.toString();
    return value;
  }
  if (ArrayBuffer.isView(value)) return `${value.byteLength} bytes`;
  if (value instanceof ArrayBuffer) return `${value.byteLength} bytes`;
  if (value instanceof Error) return { name: value.name, message: value.message };
  if (depth <= 0) return "[…]";
  if (Array.isArray(value)) return value.map((item) => plainData(item, depth - 1) ?? null);
  const prototype = Object.getPrototypeOf(value) as unknown;
  if (prototype !== Object.prototype && prototype !== null) return `[${className(value)}]`;
  const plain: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (CREDENTIAL_KEY.test(key)) {
      plain[key] = REDACTED;
      continue;
    }
    const data = plainData(item, depth - 1);
    if (data !== undefined) plain[key] = data;
  }
  return plain;
}

function className(value: object): string {
  const name = (value.constructor as { name?: unknown } | undefined)?.name;
  return typeof name === "string" && name !== "" ? name : "object";
}
