import { describe, expect, it } from "vitest";
import { callConfig, defaultCallConfig, validateCallConfig } from "../../machines/call-config.js";
import { callTools, requestedAction } from "../../machines/call-tools.js";

describe("call configuration", () => {
  it("has valid defaults", () => {
    expect(validateCallConfig(defaultCallConfig)).toBe(defaultCallConfig);
    expect(defaultCallConfig).toMatchObject({ bargeInMinWords: 2, maxReprompts: 2, transferNumber: null });
  });

  it("overrides settings and single phrases", () => {
    const config = callConfig({ idleRepromptMs: 5000, phrases: { greeting: "Hello!" } });
    expect(config.idleRepromptMs).toBe(5000);
    expect(config.phrases).toEqual({ ...defaultCallConfig.phrases, greeting: "Hello!" });
  });

  it("refuses settings that would break the call, naming every problem at once", () => {
    expect(() =>
      callConfig({
        idleRepromptMs: -1,
        ttsTimeoutMs: Number.NaN,
        bargeInMinWords: 0,
        phrases: { apology: " " },
      }),
    ).toThrow(
      [
        "Invalid call configuration:",
        "  - idleRepromptMs must be a positive number of milliseconds (got -1)",
        "  - ttsTimeoutMs must be a positive number of milliseconds (got NaN)",
        "  - bargeInMinWords must be a whole number of at least 1 (got 0)",
        "  - phrases.apology must not be empty",
      ].join("\n"),
    );
    expect(() => callConfig({ transferNumber: "" })).toThrow("transferNumber must be null");
  });
});

describe("call tools", () => {
  it("offers transfer_call only with a transfer number", () => {
    expect(callTools({ transferNumber: null }).map((tool) => tool.name)).toEqual(["end_call"]);
    expect(callTools({ transferNumber: "+15550100" }).map((tool) => tool.name)).toEqual([
      "end_call",
      "transfer_call",
    ]);
  });

  it("turns tool calls into one action: ending wins, tools not offered are ignored", () => {
    const call = (name: string) => ({ id: name, name, arguments: "{}" });
    const both = callTools({ transferNumber: "+15550100" });
    expect(requestedAction([call("transfer_call"), call("end_call")], both)).toBe("hangUp");
    expect(requestedAction([call("transfer_call")], both)).toBe("transfer");
    expect(requestedAction([call("transfer_call")], callTools({ transferNumber: null }))).toBeNull();
    expect(requestedAction([call("get_weather")], both)).toBeNull();
    expect(requestedAction([], both)).toBeNull();
  });
});
