import { describe, expect, it } from "vitest";
import { withFirstItemHook } from "../../src/observability/latency-taps.js";

describe("withFirstItemHook", () => {
  it("passes every item through unchanged and calls the hook once, as the first item arrives", async () => {
    const events: string[] = [];
    async function* source() {
      for (const item of ["a", "b", "c"]) {
        events.push(`produce ${item}`);
        yield item;
      }
    }
    const received: string[] = [];
    for await (const item of withFirstItemHook(source(), () => events.push("first"))) {
      events.push(`consume ${item}`);
      received.push(item);
    }
    expect(received).toEqual(["a", "b", "c"]);
    expect(events).toEqual([
      "produce a",
      "first",
      "consume a",
      "produce b",
      "consume b",
      "produce c",
      "consume c",
    ]);
  });

  it("never calls the hook for a stream with no items", async () => {
    let calls = 0;
    async function* empty(): AsyncGenerator<string> {}
    for await (const _ of withFirstItemHook(empty(), () => calls++)) expect.unreachable();
    expect(calls).toBe(0);
  });

  it("hands on the source's error, after the items before it", async () => {
    async function* failing() {
      yield 1;
      throw new Error("engine dropped");
    }
    const received: number[] = [];
    const consume = async () => {
      for await (const item of withFirstItemHook(failing(), () => undefined)) received.push(item);
    };
    await expect(consume()).rejects.toThrow("engine dropped");
    expect(received).toEqual([1]);
  });

  it("ends the source when the consumer stops early, so the engine's stream is closed", async () => {
    let closed = false;
    async function* endless() {
      try {
        for (let i = 0; ; i++) yield i;
      } finally {
        closed = true;
      }
    }
    for await (const item of withFirstItemHook(endless(), () => undefined)) {
      if (item === 2) break;
    }
    expect(closed).toBe(true);
  });
});
