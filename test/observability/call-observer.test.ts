/**
 * Metrics, logs and the summary of a call, as the scripted conversation of `simulated-call.ts` runs through the
 * call factory: counts and sample numbers, never timings.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createMetrics, LATENCY_STAGES, type Metrics } from "../../src/metrics.js";
import { callObserver } from "../../src/observability/call-observer.js";
import type { CallSummary } from "../../src/observability/call-summary.js";
import { REPLIES, startSimulatedCall } from "./simulated-call.js";

/** The value of a counter's series with exactly these labels (0 when the series does not exist yet). */
async function counter(metrics: Metrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  const series = values.find((value) => JSON.stringify(value.labels) === JSON.stringify(labels));
  return series?.value ?? 0;
}

/** How many observations a histogram holds. */
async function observations(metrics: Metrics, name: string): Promise<number> {
  const metric = metrics.registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  // Histogram series carry their sample name (`_bucket`, `_sum`, `_count`); prom-client's type leaves it out.
  const count = values.find((value) => (value as { metricName?: string }).metricName === `${name}_count`);
  return count?.value ?? 0;
}

/** Per stage, what the script makes happen: 3 turns, 4 segments spoken, 2 replies heard, 4 marks not cleared. */
const EXPECTED_SAMPLES = {
  endOfTurn: 3,
  llmFirstToken: 3,
  firstSegment: 3,
  ttsFirstAudio: 4,
  voiceToVoice: 2,
  markRoundTrip: 4,
} as const;

const HISTOGRAMS = {
  endOfTurn: "officero_end_of_turn_seconds",
  llmFirstToken: "officero_llm_first_token_seconds",
  firstSegment: "officero_first_segment_seconds",
  ttsFirstAudio: "officero_tts_first_audio_seconds",
  voiceToVoice: "officero_voice_to_voice_seconds",
  markRoundTrip: "officero_mark_round_trip_seconds",
} as const;

let tapesDir: string | undefined;
afterEach(async () => {
  if (tapesDir) await rm(tapesDir, { recursive: true, force: true });
  tapesDir = undefined;
});

describe("call observer", () => {
  it("moves the call metrics as a call runs: turns, barge-ins, engine errors, end reason and every latency stage", async () => {
    const metrics = createMetrics();
    const call = startSimulatedCall([callObserver({ metrics, logTranscripts: true })]);
    for (const stage of LATENCY_STAGES) expect(await observations(metrics, HISTOGRAMS[stage])).toBe(0);

    await call.converse();

    expect(await counter(metrics, "officero_turns_total")).toBe(3);
    expect(await counter(metrics, "officero_barge_ins_total")).toBe(1);
    expect(await counter(metrics, "officero_engine_errors_total", { engine: "tts", kind: "http" })).toBe(1);
    expect(await counter(metrics, "officero_engine_errors_total", { engine: "llm", kind: "timeout" })).toBe(
      0,
    );
    expect(await counter(metrics, "officero_calls_ended_total", { reason: "callerHungUp" })).toBe(1);
    for (const stage of LATENCY_STAGES) {
      expect({ stage, samples: await observations(metrics, HISTOGRAMS[stage]) }).toEqual({
        stage,
        samples: EXPECTED_SAMPLES[stage],
      });
    }
  });

  it("logs one line per state transition with the call id, turn and state, and what each side said", async () => {
    const call = startSimulatedCall([callObserver({ metrics: createMetrics(), logTranscripts: true })]);
    await call.converse();

    const transitions = call.logs.lines.filter((line) => line.msg === "call state");
    expect(transitions.every((line) => line.callId === call.start.callSid)).toBe(true);
    expect(transitions.map((line) => `${line.turn} ${line.state}`)).toEqual([
      "0 connecting",
      "0 active.greeting",
      "0 active.listening.waiting",
      // The caller speaks, and their speech ends: the turn is theirs.
      "0 active.listening.hearing",
      "1 active.replying.thinking.waitingForLlm",
      "1 active.replying.thinking.waitingForSpeech",
      "1 active.replying.speaking.playing",
      "1 active.listening.waiting",
      "1 active.listening.hearing",
      "2 active.replying.thinking.waitingForLlm",
      "2 active.replying.thinking.waitingForSpeech",
      "2 active.replying.speaking.playing",
      "2 active.listening.hearing",
      "3 active.replying.thinking.waitingForLlm",
      "3 active.replying.thinking.waitingForSpeech",
      "3 active.apologizing",
      "3 active.listening.waiting",
      "3 ended",
    ]);
    const said = call.logs.lines.filter((line) => line.msg === "caller said" || line.msg === "agent said");
    expect(said.map((line) => `${line.msg}: ${line.text}`)).toEqual([
      `agent said: ${call.config.phrases.greeting}`,
      "caller said: Hi, I need an electrician.",
      `agent said: ${REPLIES.first}`,
      "caller said: Can you come tomorrow?",
      "caller said: actually wait a moment, what about today?",
      `agent said: ${call.config.phrases.apology}`,
    ]);
    expect(said.every((line) => line.level === 30)).toBe(true);
  });

  it("keeps every word out of the logs when transcripts are switched off", async () => {
    const call = startSimulatedCall([callObserver({ metrics: createMetrics(), logTranscripts: false })]);
    await call.converse();

    const text = call.logs.raw.join("\n");
    for (const words of [
      "electrician",
      "tomorrow",
      "what about today",
      REPLIES.first,
      call.config.phrases.greeting,
    ]) {
      expect(text).not.toContain(words);
    }
    const callerLines = call.logs.lines.filter((line) => line.msg === "caller said");
    expect(callerLines.map((line) => [line.text, line.words])).toEqual([
      ["[redacted]", 5],
      ["[redacted]", 4],
      ["[redacted]", 7],
    ]);
    const summary = call.logs.lines.find((line) => line.msg === "call summary")?.summary as Record<
      string,
      unknown
    >;
    expect(summary.transcript).toBeUndefined();
    expect(summary.transcriptLines).toBe(5);
  });

  it("summarises the call at hang-up in the log and beside the tape", async () => {
    tapesDir = await mkdtemp(join(tmpdir(), "officero-tapes-"));
    const call = startSimulatedCall([
      callObserver({ metrics: createMetrics(), logTranscripts: true, tapesDir: join(tapesDir, "new") }),
    ]);
    await call.converse();

    const path = join(tapesDir, "new", `${call.start.callSid}.summary.json`);
    const written = await vi.waitFor(async () => JSON.parse(await readFile(path, "utf8")) as CallSummary);
    expect(written).toMatchObject({
      callSid: call.start.callSid,
      streamSid: call.start.streamSid,
      endReason: "callerHungUp",
      turns: 3,
      interruptions: 1,
      engineFailures: [{ engine: "tts", kind: "http" }],
      transcript: [
        { speaker: "agent", text: call.config.phrases.greeting },
        { speaker: "caller", text: "Hi, I need an electrician." },
        { speaker: "agent", text: REPLIES.first },
        // Nothing of the interrupted reply was heard, so the caller's words run on into one turn.
        { speaker: "caller", text: "Can you come tomorrow? actually wait a moment, what about today?" },
        { speaker: "agent", text: call.config.phrases.apology },
      ],
    });
    expect(written.durationSeconds).toBeGreaterThanOrEqual(0);
    expect(new Date(written.startedAt).toISOString()).toBe(written.startedAt);
    const samples = Object.fromEntries(
      Object.entries(written.latencyMs).map(([stage, latency]) => [stage, latency?.samples]),
    );
    expect(samples).toEqual(EXPECTED_SAMPLES);
    for (const latency of Object.values(written.latencyMs)) expect(latency?.median).toBeGreaterThanOrEqual(0);

    const logged = call.logs.lines.filter((line) => line.msg === "call summary");
    expect(logged).toHaveLength(1);
    expect(logged[0]?.summary).toEqual(written);
  });

  it("never lets its own failure reach the call", async () => {
    const metrics = createMetrics();
    metrics.turns.inc = () => {
      throw new Error("metrics backend broke");
    };
    const call = startSimulatedCall([callObserver({ metrics, logTranscripts: true })]);
    await call.converse();

    expect(call.llm.requests).toHaveLength(3);
    expect(call.output.closed).toBe(true);
    const warnings = call.logs.lines.filter(
      (line) => line.msg === "call observability failed; the call goes on",
    );
    expect(warnings).toHaveLength(1);
    expect(await counter(metrics, "officero_calls_ended_total", { reason: "callerHungUp" })).toBe(1);
  });
});
