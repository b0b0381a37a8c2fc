/**
 * Entry point: read the configuration, say what each engine is set to, start the engines and the server,
 * and on SIGTERM/SIGINT let calls in progress finish before exiting.
 */
import { config as loadDotenv } from "dotenv";
import { callConfig } from "../machines/call-config.js";
import { createCallFactory } from "./call-factory.js";
import { browserUrl, type Config, ConfigError, loadConfig } from "./config.js";
import { describeEngines, type LiveEngineState, ollamaQueueWarning } from "./engine-status.js";
import { createEngines, type Engines } from "./engines/create-engines.js";
import { describeListenError } from "./listen-error.js";
import { watchLlm } from "./llm-reachability.js";
import { createLogger, type Log, wantsPrettyLogs } from "./logger.js";
import { createMetrics } from "./metrics.js";
import { startObservability } from "./observability/observability.js";
import { buildServer } from "./server.js";
import { createTapeRecorderInstrument } from "./tapes/tape-instrument.js";
import { createTwilioRest } from "./twilio/rest.js";

/** How long a shutdown waits for calls in progress (systemd's TimeoutStopSec should be longer). */
const SHUTDOWN_GRACE_MS = 90_000;
/** How often `/health` re-asks the LLM server: often enough to notice a restart, rare enough to cost nothing. */
const LLM_CHECK_INTERVAL_MS = 30_000;

async function main(): Promise<void> {
  loadDotenv({ quiet: true });
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\nSee .env.example for every variable and its default.\n`);
    process.exit(1);
  }
  const { env } = config;
  const logger = createLogger({
    level: env.LOG_LEVEL,
    secrets: config.secrets,
    pretty: wantsPrettyLogs(process.stdout),
  });
  const log = logger as unknown as Log;

  reportEngines(config, log);

  const callSettings = callConfig({
    systemPrompt: env.SYSTEM_PROMPT,
    phrases: { greeting: env.GREETING },
    transferNumber: env.TRANSFER_NUMBER ?? null,
  });
  const metrics = createMetrics();
  const engines = createEngines(env, Object.values(callSettings.phrases), log, metrics);
  const rest =
    env.TWILIO_ACCOUNT_SID && env.TWILIO_AUTH_TOKEN
      ? createTwilioRest({
          accountSid: env.TWILIO_ACCOUNT_SID,
          authToken: env.TWILIO_AUTH_TOKEN,
          apiBaseUrl: env.TWILIO_API_BASE_URL,
          log,
        })
      : undefined;

  // Every call as a replayable tape (fixtures/README.md) when CALL_TAPES_DIR is set.
  const tapes = env.CALL_TAPES_DIR
    ? [
        createTapeRecorderInstrument({
          dir: env.CALL_TAPES_DIR,
          audio: env.CALL_TAPES_AUDIO,
          phrases: engines.phrases,
        }),
      ]
    : [];
  const llmLive = watchLlmState(engines, env, log);
  const observability = await startObservability({ env, metrics, log });
  const server = await buildServer({
    config,
    logger,
    metrics,
    liveCalls: observability.liveCalls,
    liveEngines: {
      ...(engines.sttState ? { stt: { current: engines.sttState } } : {}),
      llm: llmLive,
      tts: { current: engines.ttsState },
    },
    createCall: createCallFactory({
      engines,
      phrases: engines.phrases,
      config: callSettings,
      rest,
      instruments: [...observability.instruments, ...tapes],
    }),
  });
  try {
    await server.app.listen({ port: env.PORT, host: env.HOST });
  } catch (error) {
    const reason = describeListenError(error, { port: env.PORT, host: env.HOST });
    if (!reason) throw error;
    log.fatal(reason);
    await observability.stop();
    process.exit(1);
  }
  log.info(
    { webhook: `${env.PUBLIC_URL.replace(/\/+$/, "")}/twilio/voice` },
    "ready for calls: point your Twilio number's voice webhook (HTTP POST) here",
  );
  const url = browserUrl(env);
  log.info(
    { url, health: `${url}health` },
    `open ${url} in a browser; ${url}health says what each engine is doing (models still downloading, or the command that fetches one)`,
  );

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      log.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    stopping = true;
    log.info(
      { signal, activeCalls: server.context.activeCalls() },
      "shutting down: refusing new calls, letting calls in progress finish",
    );
    llmLive.stop();
    engines.stopRetrying();
    server
      .drain(SHUTDOWN_GRACE_MS)
      .then(() => observability.stop())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          log.error({ err: error }, "error while shutting down");
          process.exit(1);
        },
      );
  };
  // One call's forgotten promise must not end every other call: log it loudly and keep serving.
  process.on("unhandledRejection", (reason) => log.error({ err: reason }, "unhandled promise rejection"));
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

/** An LLM server is asked whether it answers, now and every interval; an in-process LLM's load says it. */
function watchLlmState(
  engines: Engines,
  env: Config["env"],
  log: Log,
): { current(): LiveEngineState; stop(): void } {
  if (engines.llmState) return { current: engines.llmState, stop: () => undefined };
  const reachability = watchLlm({
    probe: engines.probeLlm,
    intervalMs: LLM_CHECK_INTERVAL_MS,
    where: `model ${env.LLM_MODEL} at ${env.LLM_BASE_URL}`,
    fix: "check LLM_BASE_URL and LLM_MODEL (start the server, or pull or serve the model)",
    log,
  });
  void reachability.checkNow();
  return reachability;
}

function reportEngines(config: Config, log: Log): void {
  const queueing = ollamaQueueWarning(config.env);
  if (queueing) log.warn({ engine: "llm" }, queueing);
  for (const engine of describeEngines(config.env)) {
    const fields = { engine: engine.engine, provider: engine.provider, detail: engine.detail };
    if (engine.ready) log.info(fields, `${engine.engine}: ${engine.provider} configured`);
    else
      log.warn(
        { ...fields, missing: engine.missing },
        `${engine.engine}: ${engine.provider} is missing ${engine.missing.join("; ")}`,
      );
  }
  if (!config.env.TWILIO_AUTH_TOKEN) {
    log.warn(
      "TWILIO_AUTH_TOKEN is not set: webhooks and media streams are accepted WITHOUT signature checks",
    );
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `officero-ear failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
