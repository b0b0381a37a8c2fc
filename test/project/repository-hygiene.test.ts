/**
 * What a newcomer sees around the code: npm commands run without config warnings, and the files the tools
 * write into the checkout are ignored.
 */
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";

describe("the repository", () => {
  it("has an .npmrc npm understands, keeping dependencies' install scripts (onnxruntime-node's CUDA download) off", () => {
    const npm = spawnSync("npm", ["config", "get", "ignore-scripts"], { encoding: "utf8" });
    expect(npm.status).toBe(0);
    expect(npm.stdout.trim()).toBe("true");
    expect(npm.stderr).not.toMatch(/Unknown (project|user|builtin)? ?config/i);
  });

  it("ignores the recordings npm run call writes into the repository root", () => {
    const paths = ["call.wav", "call-1.wav", "call-12.wav"];
    const check = spawnSync("git", ["check-ignore", ...paths], { encoding: "utf8" });
    expect(check.stdout.trim().split("\n")).toEqual(paths);
    // Only the root's recordings: a WAV fixture elsewhere stays tracked.
    expect(spawnSync("git", ["check-ignore", "fixtures/real/audio/call.wav"]).status).toBe(1);
  });
});
