/**
 * The Stately inspector path end to end: the relay (`createInspectorServer`, in its worker) on loopback, the
 * WebSocket inspector, and a simulated call; a WebSocket client stands in for the inspector page.
 */
import { createWebSocketInspector, type StatelyInspectionEvent } from "@statelyai/inspect";
import { afterEach, describe, expect, it, vi } from "vitest";
import { WebSocket } from "ws";
import { type InspectorRelay, startInspectorRelay } from "../../src/observability/inspector-relay.js";
import { statelyInstrument } from "../../src/observability/stately-inspection.js";
import { freePort } from "./free-port.js";
import { startSimulatedCall } from "./simulated-call.js";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function startRelay(): Promise<InspectorRelay> {
  const relay = await startInspectorRelay({
    port: await freePort(),
    onTrouble: (detail) => {
      throw new Error(`relay trouble: ${detail}`);
    },
    onExit: () => undefined,
  });
  cleanups.push(() => relay.stop());
  return relay;
}

/** What the inspector page would receive from the relay. */
async function pageOf(relay: InspectorRelay) {
  const socket = new WebSocket(relay.socketUrl);
  cleanups.push(() => socket.close());
  await new Promise((resolve, reject) => socket.once("open", resolve).once("error", reject));
  const messages: StatelyInspectionEvent[] = [];
  socket.on("message", (data) => messages.push(JSON.parse(data.toString()) as StatelyInspectionEvent));
  return messages;
}

/** The state value a snapshot message carries (the protocol types it as XState's bare `Snapshot`). */
function stateValue(message: StatelyInspectionEvent): unknown {
  return message.type === "@xstate.snapshot" ? (message.snapshot as { value?: unknown }).value : undefined;
}

/** Audio anywhere in a message: a byte array serialised as an object or array of numbers, or raw audio under `audio`. */
function findAudio(value: unknown, path = "$"): string | undefined {
  if (value === null || typeof value !== "object") return undefined;
  const entries = Object.entries(value);
  if (entries.length >= 8 && entries.every(([key, item]) => /^\d+$/.test(key) && typeof item === "number")) {
    return path;
  }
  for (const [key, item] of entries) {
    if (key === "audio" && !(typeof item === "string" && /^\d+ bytes$/.test(item))) return `${path}.${key}`;
    const found = findAudio(item, `${path}.${key}`);
    if (found) return found;
  }
  return undefined;
}

describe("the Stately inspector", () => {
  it("shows a call's actor, its children, their events and snapshots, and never its audio", async () => {
    const relay = await startRelay();
    const page = await pageOf(relay);
    const inspector = createWebSocketInspector({ url: relay.socketUrl });
    cleanups.push(() => inspector.stop());
    // The inspector connects in the background; a first event through the relay proves it is connected.
    inspector.event("warm-up", { type: "warm-up" });
    await vi.waitFor(() => expect(page).toHaveLength(1));

    const call = startSimulatedCall([statelyInstrument(inspector.adapter)]);
    await call.converse();
    const ended = (message: StatelyInspectionEvent) => stateValue(message) === "ended";
    await vi.waitFor(() => expect(page.some(ended)).toBe(true));

    const messages = page.slice(1);
    const actors = messages.filter((m) => m.type === "@xstate.actor");
    const root = actors.find((m) => m.parentId === undefined);
    expect(root?.name).toBe(`call ${call.start.callSid}`);
    expect(JSON.parse(root?.definition ?? "{}")).toMatchObject({ id: "call", initial: "connecting" });
    const rootId = root?.sessionId;
    expect(rootId?.startsWith(`${call.start.callSid}/`)).toBe(true);
    const children = actors.filter((m) => m.parentId === rootId).map((m) => m.name);
    expect(children).toEqual(expect.arrayContaining(["stt", "reply", "0.call.active.greeting"]));
    expect(children.filter((name) => name === "reply")).toHaveLength(3);
    expect(messages.every((m) => m.rootId === rootId)).toBe(true);

    const events = messages.filter((m) => m.type === "@xstate.event");
    const sentToCall = events.filter((m) => m.sessionId === rootId).map((m) => m.event.type);
    expect(sentToCall).toEqual(
      expect.arrayContaining(["twilio.start", "stt.final", "llm.firstChunk", "speech.done", "twilio.mark"]),
    );
    const sttSession = actors.find((m) => m.name === "stt")?.sessionId;
    expect(events.find((m) => m.event.type === "stt.final")?.sourceId).toBe(sttSession);
    expect(events.some((m) => m.sessionId === sttSession && m.event.type === "xstate.init")).toBe(true);

    const snapshots = messages.filter((m) => m.type === "@xstate.snapshot");
    const states = snapshots.filter((m) => m.sessionId === rootId).map((m) => JSON.stringify(stateValue(m)));
    expect(states).toEqual(
      expect.arrayContaining([
        '{"active":"greeting"}',
        '{"active":{"replying":{"thinking":"waitingForLlm"}}}',
        '{"active":{"replying":{"speaking":"playing"}}}',
        '{"active":"apologizing"}',
        '"ended"',
      ]),
    );
    expect(snapshots.some((m) => m.sessionId === sttSession && m.snapshot.status === "stopped")).toBe(true);

    // No audio: not in any message, not as an event of its own unless it moved the statechart (the two replies
    // that started playing), and then only as its length.
    for (const message of messages) expect(findAudio(message)).toBeUndefined();
    const audioEvents = events.filter((m) => m.event.type === "speech.audio");
    expect(audioEvents.map((m) => m.event.audio)).toEqual([
      `${"Sure, I can help with that. ".length} bytes`,
      `${"Let me check the schedule. ".length} bytes`,
    ]);
    expect(call.output.media.length).toBeGreaterThan(audioEvents.length);
    // Nor the engines, the stream token, or anything else the call only holds by reference.
    const text = JSON.stringify(messages);
    expect(text).not.toContain('"deps"');
    expect(text).not.toContain("stream-token-secret");
    expect(text).toContain('"token":"[redacted]"');
  });

  it("lets calls run as usual when the relay cannot be reached or the inspector breaks", async () => {
    const unreachable = createWebSocketInspector({ url: `ws://127.0.0.1:${await freePort()}` });
    cleanups.push(() => unreachable.stop());
    const broken = statelyInstrument({
      send: () => {
        throw new Error("inspector down");
      },
    });
    const reference = startSimulatedCall([]);
    await reference.converse();
    const call = startSimulatedCall([statelyInstrument(unreachable.adapter), broken]);
    await call.converse();

    expect(call.output.media.map((frame) => Buffer.from(frame).toString())).toEqual(
      reference.output.media.map((frame) => Buffer.from(frame).toString()),
    );
    expect(call.output.closed).toBe(true);
    expect(call.llm.requests).toHaveLength(3);
    const warnings = call.logs.lines.filter(
      (line) => line.msg === "the Stately inspector could not show an event",
    );
    expect(warnings).toHaveLength(1);
  });
});
