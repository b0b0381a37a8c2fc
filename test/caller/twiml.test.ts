import { describe, expect, it } from "vitest";
import { connectStreamTwiml } from "../../src/twilio/twiml.js";
import { CallerError, parseConnectStreamTwiml } from "../../tools/caller/index.js";

describe("parseConnectStreamTwiml", () => {
  it("reads the server's own TwiML: the stream URL and every parameter, entities decoded", () => {
    const xml = connectStreamTwiml({
      streamUrl: "wss://voice.example.com/twilio/stream",
      parameters: { from: "+15555550123", to: "+15555550100", token: "123.abc", note: `a<b & "c"` },
    });
    expect(parseConnectStreamTwiml(xml)).toEqual({
      url: "wss://voice.example.com/twilio/stream",
      parameters: { from: "+15555550123", to: "+15555550100", token: "123.abc", note: `a<b & "c"` },
    });
  });

  it("accepts a Stream without parameters and single-quoted attributes", () => {
    const xml = "<Response><Connect><Stream url='wss://h/s'/></Connect></Response>";
    expect(parseConnectStreamTwiml(xml)).toEqual({ url: "wss://h/s", parameters: {} });
  });

  const refusals: [string, string, RegExp][] = [
    ["not TwiML", "<html>oops</html>", /did not answer with TwiML/],
    ["no Connect", "<Response><Say>Hello</Say></Response>", /no <Connect><Stream>/],
    [
      "a one-way Start/Stream",
      '<Response><Start><Stream url="wss://h/s"/></Start></Response>',
      /only forks audio one way/,
    ],
    ["Connect without Stream", "<Response><Connect><Room>r</Room></Connect></Response>", /holds no <Stream>/],
    ["Stream without url", "<Response><Connect><Stream/></Connect></Response>", /no url attribute/],
    ["a ws:// url", '<Response><Connect><Stream url="ws://h/s"/></Connect></Response>', /not wss:\/\//],
  ];
  it.each(refusals)("refuses %s with a bad-twiml error that says why", (_, xml, message) => {
    let error: unknown;
    try {
      parseConnectStreamTwiml(xml);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(CallerError);
    expect((error as CallerError).code).toBe("bad-twiml");
    expect((error as CallerError).message).toMatch(message);
  });
});
