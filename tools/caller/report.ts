/** Plain-text tables of simulated calls, for `npm run call` and benchmark logs. */
import type { CallResult } from "./call-result.js";
import type { LatencySummary, LoadResult } from "./load.js";

export function formatCallReport(result: CallResult): string {
  const lines: string[] = [];
  lines.push(`call ${result.callSid}: ${seconds(result.durationMs)}, ${describeEnd(result)}`);
  const rows: string[][] = [["turn", "caller said", "speech ended", "agent answered", "latency"]];
  rows.push(["greeting", "", "", "", ms(result.greetingLatencyMs)]);
  result.turns.forEach((turn, index) => {
    rows.push([
      String(index + 1),
      turn.overAgent ? `${turn.utterance} (over the agent)` : turn.utterance,
      turn.speechEndedAt === null ? "(cut off)" : seconds(turn.speechEndedAt),
      turn.firstAgentAudioAt === null ? "-" : seconds(turn.firstAgentAudioAt),
      ms(turn.latencyMs),
    ]);
  });
  lines.push(table(rows));
  const { counts } = result;
  lines.push(
    `frames sent ${counts.framesSent}, received ${counts.framesReceived} ` +
      `(${seconds((counts.agentBytesReceived / 8000) * 1000)} of agent audio, ` +
      `${seconds((counts.agentBytesPlayed / 8000) * 1000)} played); marks ${counts.marksReceived} received, ` +
      `${counts.marksEchoed} echoed; clears ${counts.clears}`,
  );
  if (counts.protocolErrors > 0) {
    const reasons = result.timeline.flatMap((event) =>
      event.type === "protocol-error" ? [event.reason] : [],
    );
    lines.push(`protocol errors: ${counts.protocolErrors} (first: ${reasons[0] ?? "?"})`);
  }
  if (result.transcript) {
    lines.push("transcript as the server saw it:");
    for (const line of result.transcript)
      lines.push(`  ${line.speaker ? `${line.speaker}: ` : ""}${line.text}`);
  } else {
    lines.push(
      "transcript: not available (the call had already ended on the server, GET /calls refused the key (--calls-api-key), or LOG_TRANSCRIPTS=false)",
    );
  }
  return lines.join("\n");
}

export function formatLoadReport(load: LoadResult): string {
  const lines: string[] = [];
  const total = load.outcomes.length;
  lines.push(`${total} calls, ${total - load.failures} completed, ${load.failures} failed`);
  const rows: string[][] = [["latency", "count", "p50", "p90", "p99", "max"]];
  const row = (name: string, summary: LatencySummary | null) =>
    rows.push(
      summary
        ? [name, String(summary.count), ms(summary.p50), ms(summary.p90), ms(summary.p99), ms(summary.max)]
        : [name, "0", "-", "-", "-", "-"],
    );
  row("greeting", load.greetingLatency);
  row("turn", load.turnLatency);
  lines.push(table(rows));
  if (load.unansweredTurns > 0) lines.push(`turns the agent never answered: ${load.unansweredTurns}`);
  const failures = new Map<string, number>();
  for (const outcome of load.outcomes) {
    if (!outcome.ok) failures.set(outcome.error, (failures.get(outcome.error) ?? 0) + 1);
  }
  for (const [error, count] of failures) lines.push(`failed x${count}: ${error}`);
  return lines.join("\n");
}

export function describeEnd(result: CallResult): string {
  const { ended } = result;
  if (ended.by === "server") {
    return `the server ended it (close ${ended.code}${ended.reason ? ` "${ended.reason}"` : ""})`;
  }
  return {
    finished: "the caller hung up after the last answer",
    "hangup-timer": "the caller hung up (--hangup-after-ms)",
    aborted: "the caller hung up (interrupted)",
  }[ended.reason];
}

function table(rows: readonly string[][]): string {
  const widths = (rows[0] ?? []).map((_, column) =>
    Math.max(...rows.map((row) => (row[column] ?? "").length)),
  );
  return rows
    .map((row) =>
      row
        .map((cell, column) => cell.padEnd(widths[column] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

function ms(value: number | null): string {
  return value === null ? "-" : `${Math.round(value)} ms`;
}

function seconds(valueMs: number): string {
  return `${(valueMs / 1000).toFixed(2)} s`;
}
