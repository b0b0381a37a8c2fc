import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../../src/logger.js";
import { createTwilioRest } from "../../src/twilio/rest.js";
import { type FakeTwilioApi, startFakeTwilioApi } from "../fakes/fake-twilio-api.js";
import { LogCapture } from "../support/test-server.js";
import { sid } from "../support/twilio-messages.js";

const accountSid = sid("AC");
const authToken = "fedcba9876543210fedcba9876543210";

let api: FakeTwilioApi | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

async function setup(token = authToken) {
  api = await startFakeTwilioApi({ accountSid, authToken });
  const logs = new LogCapture();
  const log = createLogger({ level: "info", secrets: [authToken], destination: logs });
  return { rest: createTwilioRest({ accountSid, authToken: token, apiBaseUrl: api.url, log }), logs, api };
}

describe("Twilio REST through the twilio library, retargeted at TWILIO_API_BASE_URL", () => {
  it("hangs up with Status=completed on the call's resource, authenticated", async () => {
    const { rest, api } = await setup();
    const callSid = sid("CA");
    await rest.hangUp(callSid);
    expect(api.requests).toEqual([
      {
        method: "POST",
        path: `/2010-04-01/Accounts/${accountSid}/Calls/${callSid}.json`,
        callSid,
        form: { Status: "completed" },
        authorized: true,
      },
    ]);
  });

  it("treats hanging up a call that already ended as done", async () => {
    const { rest, api, logs } = await setup();
    const callSid = sid("CA");
    api.endedCalls.add(callSid);
    await expect(rest.hangUp(callSid)).resolves.toBeUndefined();
    expect(logs.messages()).toContain("hang-up: the call had already ended");
  });

  it("transfers by redirecting the call to TwiML that dials the number", async () => {
    const { rest, api } = await setup();
    const callSid = sid("CA");
    await rest.transfer(callSid, "+15557654321");
    expect(api.requests[0]?.form).toEqual({
      Twiml: '<?xml version="1.0" encoding="UTF-8"?><Response><Dial>+15557654321</Dial></Response>',
    });
  });

  it("fails loudly with wrong credentials, without the token in any log line", async () => {
    const { rest, logs } = await setup("wrong-token-wrong-token-wrong-tok");
    await expect(rest.hangUp(sid("CA"))).rejects.toMatchObject({ status: 401 });
    expect(logs.raw.join("\n")).not.toContain(authToken);
  });
});
