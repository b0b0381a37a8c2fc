/**
 * Does a call leave anything behind? 2,000 short calls, one after another, on one server process:
 * webhook, stream, greeting, one turn (the caller speaks, the agent answers), the caller hangs up, status
 * callback. The server's memory is read after full garbage collections (the server runs with --expose-gc)
 * after 10 calls, then every 50 calls from 1,000 to 2,000; the table shows 10 against 1,000.
 *
 * A leak shows as objects piling up with the number of calls: the figure is the slope of a least-squares line
 * through the readings from 1,000 calls on, of the heap without its compiled code. The first thousand calls are
 * left out of the slope because the JIT is still at work there: besides compiled code (counted apart), it
 * grows and shrinks V8's own bookkeeping (the weak lists of what optimized code depends on, bytecode it
 * flushes), by an amount that moves with any edit to a hot function: from -740 to +720 B per call over calls
 * 100-1,000 in runs of two commits a day apart, under 200 over calls 1,000-3,000. A heap snapshot diff between
 * 1,000 and 3,000 calls found nothing else growing (four plain objects).
 * What is bounded by design must not look like a leak in a run this short: stream tokens are remembered until
 * they expire (to refuse a replay), so they live 5 s here, not 60 s.
 *
 * The engines answer at once and the caller's line runs as fast as the server answers (the simulated caller's
 * fast-forward clock), so 2,000 calls take seconds instead of hours. What a call allocates does not depend on
 * how fast its audio flows.
 */
import type { CallerUtterance } from "../tools/caller/index.js";
import { placeCalls } from "./harness/load.js";
import { startBenchServer } from "./harness/server-child.js";
import type { MemoryStats } from "./harness/server-protocol.js";
import { toneMulaw } from "./harness/synthetic-audio.js";
import type { BenchRow } from "./measure.js";
import type { SectionResult } from "./section.js";

const CALLS = 2000;
const FIRST_READING = 10;
/** The reading the table compares with the first one: the memory after 1,000 calls. */
const COMPARED_READING = 1000;
const SLOPE_FROM = 1000;
const CHECKPOINTS = new Set([FIRST_READING, ...Array.from({ length: 21 }, (_, i) => SLOPE_FROM + 50 * i)]);
/** A leak of even one small object graph per call (a closure, a listener, a map entry) is more than this. */
const MAX_GROWTH_PER_CALL_BYTES = 512;

const TOKEN_TTL_SECONDS = 5;

const UTTERANCE: CallerUtterance = { name: "100 ms of speech", mulaw: toneMulaw(100) };

export async function runMemoryBench(): Promise<SectionResult> {
  const server = await startBenchServer({
    timings: { llmFirstTokenMs: 0, ttsFirstAudioMs: 0, ttsLeadMs: 200, replyAudioMs: 200, paced: false },
    greetingAudioMs: 200,
    lateFrameMs: 100,
    collectSamples: false,
    keepCallCounts: false,
    env: { STREAM_TOKEN_TTL_SECONDS: String(TOKEN_TTL_SECONDS) },
  });
  const memory = new Map<number, MemoryStats>();
  try {
    const load = await placeCalls({
      url: server.url,
      calls: CALLS,
      concurrency: 1,
      rampMs: 0,
      clock: "fast-forward",
      // The caller's line runs far faster than real time: it must not give up on the answer after 500 frames.
      script: {
        utterances: [UTTERANCE],
        pauseAfterReplyMs: 0,
        replyTimeoutMs: 3_600_000,
        fetchTranscript: false,
      },
      afterCall: async (done) => {
        if (CHECKPOINTS.has(done)) memory.set(done, await server.request("memory"));
      },
    });
    const failed = load.calls.filter((call) => !call.ok);
    const unanswered = load.calls.filter((call) => call.replyLatenciesMs.length === 0).length;
    return {
      rows: rows(memory),
      details: {
        calls: load.calls.length,
        failedCalls: failed.map((call) => call.error),
        callsWithoutAnAnswer: unanswered,
        wallSeconds: load.wallSeconds,
        memoryAfterCalls: Object.fromEntries(memory),
      },
    };
  } finally {
    await server.stop();
  }
}

function rows(memory: ReadonlyMap<number, MemoryStats>): BenchRow[] {
  const at = (calls: number) => {
    const stats = memory.get(calls);
    if (!stats) throw new Error(`no memory reading after ${calls} calls`);
    return stats;
  };
  const first = at(FIRST_READING);
  const compared = at(COMPARED_READING);
  const last = at(CALLS);
  const mib = (bytes: number) => bytes / 2 ** 20;
  const readings = [...memory].filter(([calls]) => calls >= SLOPE_FROM);
  const section = "memory";
  return [
    { section, name: "RSS after 10 calls", value: mib(first.rssBytes), unit: "MiB" },
    {
      section,
      name: "RSS after 1,000 calls",
      value: mib(compared.rssBytes),
      unit: "MiB",
      note: "RSS keeps pages the allocator and the JIT took; the heap says what is live",
    },
    { section, name: "heap used after 10 calls", value: mib(first.heapUsedBytes), unit: "MiB" },
    { section, name: "heap used after 1,000 calls", value: mib(compared.heapUsedBytes), unit: "MiB" },
    {
      section,
      name: "heap growth per call, compiled code aside (slope, calls 1,000-2,000)",
      value: slope(readings.map(([calls, stats]) => [calls, stats.heapUsedBytes - stats.codeBytes])),
      unit: "B/call",
      target: { atMost: MAX_GROWTH_PER_CALL_BYTES },
      note: `stream tokens live ${TOKEN_TTL_SECONDS} s`,
    },
    {
      section,
      name: "compiled code growth per call (slope, calls 1,000-2,000)",
      value: slope(readings.map(([calls, stats]) => [calls, stats.codeBytes])),
      unit: "B/call",
      note: "the JIT optimizing more functions",
    },
    {
      section,
      name: "calls the server still holds after the last hung up",
      value: last.activeCalls,
      unit: "calls",
      target: { atMost: 0 },
    },
  ];
}

/** Least-squares slope of y over x. */
function slope(points: readonly (readonly [number, number])[]): number {
  const n = points.length;
  const meanX = points.reduce((sum, [x]) => sum + x, 0) / n;
  const meanY = points.reduce((sum, [, y]) => sum + y, 0) / n;
  let covariance = 0;
  let variance = 0;
  for (const [x, y] of points) {
    covariance += (x - meanX) * (y - meanY);
    variance += (x - meanX) ** 2;
  }
  return covariance / variance;
}
