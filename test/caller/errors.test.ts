/** Every way placing a call can fail gives a CallerError with a code and a message that says what to do. */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import {
  CallerError,
  fastForwardClock,
  type SimulateCallOptions,
  simulateCall,
} from "../../tools/caller/index.js";
import { openStreamSocket } from "../../tools/caller/stream-socket.js";
import { type ListeningServer, startListeningServer } from "../support/listening-server.js";
import { RecordingCall } from "../support/test-server.js";

const PUBLIC_URL = "https://voice.example.com";
const TOKEN = "the-real-auth-token";

let server: ListeningServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function failure(run: () => Promise<unknown>): Promise<CallerError> {
  try {
    await run();
  } catch (error) {
    if (error instanceof CallerError) return error;
    throw error;
  }
  throw new Error("expected a CallerError");
}

const options = (url: string, extra: Partial<SimulateCallOptions> = {}): SimulateCallOptions => ({
  url,
  publicUrl: PUBLIC_URL,
  utterances: [],
  clock: fastForwardClock(),
  waitForGreeting: false,
  ...extra,
});

async function signedServer(env: Record<string, string> = {}): Promise<ListeningServer> {
  server = await startListeningServer({
    env: { TWILIO_AUTH_TOKEN: TOKEN, ...env },
    createCall: (start, output) => new RecordingCall(start, output),
  });
  return server;
}

describe("simulated caller errors", () => {
  it("a 403 on the webhook because the token is wrong", async () => {
    const running = await signedServer();
    const error = await failure(() => simulateCall(options(running.url, { authToken: "not-the-token" })));
    expect(error.code).toBe("webhook-refused");
    expect(error.message).toMatch(/refused the webhook's signature \(403/);
    expect(error.message).toContain(`${PUBLIC_URL}/twilio/voice`);
  });

  it("a 403 on the webhook because no token was given", async () => {
    const running = await signedServer();
    const error = await failure(() => simulateCall(options(running.url)));
    expect(error.code).toBe("webhook-refused");
    expect(error.message).toMatch(/--auth-token/);
  });

  it("a 403 on the webhook because the signed URL is not the server's PUBLIC_URL", async () => {
    const running = await signedServer();
    const error = await failure(() =>
      simulateCall(options(running.url, { authToken: TOKEN, publicUrl: running.url })),
    );
    expect(error.code).toBe("webhook-refused");
    expect(error.message).toMatch(/PUBLIC_URL/);
  });

  it("a 403 on the stream upgrade when its signature is wrong", async () => {
    const running = await signedServer();
    const error = await failure(() =>
      openStreamSocket({
        twimlUrl: "wss://voice.example.com/twilio/stream",
        serverUrl: running.url,
        authToken: "not-the-token",
      }),
    );
    expect(error.code).toBe("stream-refused");
    expect(error.message).toMatch(/X-Twilio-Signature \(403/);
  });

  it("no server at the URL", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));

    const error = await failure(() => simulateCall(options(`http://127.0.0.1:${port}`)));
    expect(error.code).toBe("server-unreachable");
    expect(error.message).toMatch(/connection refused.*npm start/);
  });

  it("a webhook that does not answer with <Connect><Stream>", async () => {
    const other = createServer((_req, res) =>
      res.writeHead(200, { "content-type": "text/xml" }).end("<Response><Say>Hi</Say></Response>"),
    );
    await new Promise<void>((resolve) => other.listen(0, "127.0.0.1", resolve));
    const { port } = other.address() as AddressInfo;
    try {
      const error = await failure(() => simulateCall(options(`http://127.0.0.1:${port}`)));
      expect(error.code).toBe("bad-twiml");
    } finally {
      await new Promise((resolve) => other.close(resolve));
    }
  });

  it("bad options", async () => {
    expect((await failure(() => simulateCall(options("localhost:8080")))).code).toBe("bad-options");
    expect((await failure(() => simulateCall(options("ftp://x")))).code).toBe("bad-options");
    expect((await failure(() => simulateCall(options("http://x", { bargeInAfterMs: -1 })))).message).toMatch(
      /bargeInAfterMs must be/,
    );
    expect((await failure(() => simulateCall(options("http://x", { hangupAfterMs: 0 })))).message).toMatch(
      /hangupAfterMs must be/,
    );
    expect(
      (
        await failure(() =>
          simulateCall(options("http://x", { utterances: [{ name: "a.wav", mulaw: new Uint8Array(0) }] })),
        )
      ).code,
    ).toBe("bad-audio");
  });
});
