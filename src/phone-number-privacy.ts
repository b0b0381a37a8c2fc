/**
 * Phone numbers are personal data: a log line keeps enough to tell two callers apart while reading one call
 * (the last two digits), not enough to call them back. The country code is masked too: telling where it ends
needs a numbering-plan table, and the leading digits are what narrows a number down most. `LOG_PHONE_NUMBERS=true` logs them
 * whole, for an operator who must trace one caller and may keep such logs.
 */
export function maskPhoneNumber(number: string | undefined): string | undefined {
  if (number === undefined) return undefined;
  const match = /^(\+?)(\d*)(\d{2})$/.exec(number);
  if (!match) return number === "" ? "" : "(hidden)";
  const [, plus = "", hidden = "", last = ""] = match;
  return `${plus}${"•".repeat(hidden.length)}${last}`;
}

/** The number as the log may show it. */
export function loggablePhoneNumber(number: string | undefined, logWhole: boolean): string | undefined {
  return logWhole ? number : maskPhoneNumber(number);
}
