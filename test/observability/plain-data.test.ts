import { describe, expect, it } from "vitest";
import { EngineError } from "../../machines/engines.js";
import { plainData } from "../../src/observability/plain-data.js";

class SdkClient {
  apiKey = "sk-live-123";
  send() {}
}

describe("plain data for the inspector", () => {
  it("keeps data, shows audio as its length and engines as their class, and drops behaviour", () => {
    expect(
      plainData({
        text: "hello",
        turn: 2,
        done: false,
        nothing: null,
        audio: new Uint8Array(320),
        raw: new ArrayBuffer(8),
        client: new SdkClient(),
        speak: () => undefined,
        nested: [{ segments: [{ bytes: 160, mark: "t1-s0-g2" }] }],
      }),
    ).toEqual({
      text: "hello",
      turn: 2,
      done: false,
      nothing: null,
      audio: "320 bytes",
      raw: "8 bytes",
      client: "[SdkClient]",
      nested: [{ segments: [{ bytes: 160, mark: "t1-s0-g2" }] }],
    });
  });

  it("replaces anything stored under a credential's name, and only those", () => {
    expect(
      plainData({
        customParameters: { token: "stream-token", from: "+15551230001" },
        engine: { apiKey: "k", api_key: "k", authToken: "t", clientSecret: "s", password: "p" },
        headers: { Authorization: "Bearer x" },
        llmFirstTokenTimeoutMs: 4000,
        maxTokens: 200,
      }),
    ).toEqual({
      customParameters: { token: "[redacted]", from: "+15551230001" },
      engine: {
        apiKey: "[redacted]",
        api_key: "[redacted]",
        authToken: "[redacted]",
        clientSecret: "[redacted]",
        password: "[redacted]",
      },
      headers: { Authorization: "[redacted]" },
      llmFirstTokenTimeoutMs: 4000,
      maxTokens: 200,
    });
  });

  it("reduces errors to name and message, and stops at a depth instead of walking forever", () => {
    expect(plainData(new EngineError("tts", "http", "503 from the speech endpoint"))).toEqual({
      name: "EngineError",
      message: "503 from the speech endpoint",
    });
    const deep = { a: { b: { c: { d: 1 } } } };
    expect(plainData(deep, 2)).toEqual({ a: { b: "[…]" } });
    const cyclic: Record<string, unknown> = { name: "loop" };
    cyclic.self = cyclic;
    expect(() => JSON.stringify(plainData(cyclic))).not.toThrow();
  });
});
