import { describe, expect, it } from "vitest";
import { createLogger, secretScrubber, wantsPrettyLogs } from "../../src/logger.js";
import { LogCapture } from "../support/test-server.js";

describe("logger", () => {
  it("scrubs every configured secret from any line, wherever it hides", () => {
    const logs = new LogCapture();
    const log = createLogger({
      level: "info",
      secrets: ["dg-secret-key", 'quo"ted-secret'],
      destination: logs,
    });
    log.info({ url: "wss://api.deepgram.com/v1/listen?token=dg-secret-key" }, "connecting");
    log.error(new Error("401 for key dg-secret-key"), "deepgram refused");
    log.info({ nested: { deep: 'quo"ted-secret' } }, "nested");
    const text = logs.raw.join("\n");
    expect(text).not.toContain("dg-secret-key");
    expect(text).not.toContain("ted-secret");
    // The error line holds the key twice (message and stack): four replacements in all.
    expect(text.match(/\[redacted\]/g)?.length).toBe(4);
    expect(logs.lines).toHaveLength(3);
  });

  it("redacts authorization headers and key-like fields by path", () => {
    const logs = new LogCapture();
    const log = createLogger({ level: "info", secrets: [], destination: logs });
    log.info({ req: { headers: { authorization: "Token abc" } }, engine: { apiKey: "k" } }, "request");
    const [line] = logs.lines;
    expect(line?.req).toEqual({ headers: { authorization: "[redacted]" } });
    expect(line?.engine).toEqual({ apiKey: "[redacted]" });
  });

  it("renders readable lines when pretty, still with every secret scrubbed", () => {
    const logs = new LogCapture();
    const log = createLogger({ level: "info", secrets: ["dg-secret-key"], destination: logs, pretty: true });
    log.warn({ engine: "stt", url: "wss://x/?token=dg-secret-key" }, "deepgram refused");
    const text = logs.raw.join("\n");
    expect(text).toMatch(/WARN.*deepgram refused/);
    expect(text).toContain('engine: "stt"');
    expect(text).not.toContain("dg-secret-key");
    expect(text).toContain("[redacted]");
    expect(() => JSON.parse(logs.raw[0] ?? "")).toThrow();
  });

  it("is pretty on a terminal and JSON for everything else (journald, Docker, a file, a pipe)", () => {
    expect(wantsPrettyLogs({ isTTY: true })).toBe(true);
    expect(wantsPrettyLogs({ isTTY: false })).toBe(false);
    expect(wantsPrettyLogs({})).toBe(false);
  });

  it("has nothing to scrub when no secret is configured", () => {
    expect(secretScrubber([])).toBeUndefined();
  });
});
