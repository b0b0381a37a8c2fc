import twilio from "twilio";

/** `<Connect><Stream>`: the bidirectional form, so we can speak back on the same socket. */
export function connectStreamTwiml(options: {
  streamUrl: string;
  parameters: Record<string, string>;
}): string {
  const response = new twilio.twiml.VoiceResponse();
  const stream = response.connect().stream({ url: options.streamUrl });
  for (const [name, value] of Object.entries(options.parameters)) stream.parameter({ name, value });
  return response.toString();
}

/** Redirect target for a transfer: dial the number, then end the call when that leg ends. */
export function dialTwiml(number: string): string {
  const response = new twilio.twiml.VoiceResponse();
  response.dial(number);
  return response.toString();
}
