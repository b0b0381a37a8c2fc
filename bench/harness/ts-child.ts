/** Runs a TypeScript module of the bench in a child Node process (through tsx) with an IPC channel. */
import { type ChildProcess, fork } from "node:child_process";
import { fileURLToPath } from "node:url";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const START_TIMEOUT_MS = 30_000;

export interface TsChild<TReady> {
  process: ChildProcess;
  /** What the child sent first: `{ type: "ready", ... }`. */
  ready: TReady;
  /** Disconnects (the child exits on its own, which lets a --cpu-prof profile be written) and waits for the exit. */
  stop(): Promise<void>;
}

export async function startTsChild<TReady extends { type: "ready" }>(
  entry: URL,
  args: readonly string[],
  nodeFlags: readonly string[] = [],
): Promise<TsChild<TReady>> {
  const child = fork(fileURLToPath(entry), args, {
    cwd: REPO_ROOT,
    execArgv: [...nodeFlags, "--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const ready = await new Promise<TReady>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${entry.pathname} did not start within ${START_TIMEOUT_MS / 1000} s`));
    }, START_TIMEOUT_MS);
    const onMessage = (message: { type?: unknown }) => {
      if (message.type !== "ready") return;
      clearTimeout(timer);
      child.off("message", onMessage);
      child.off("exit", onExit);
      resolve(message as TReady);
    };
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`${entry.pathname} exited before it was ready (exit code ${code})`));
    };
    child.on("message", onMessage);
    child.once("exit", onExit);
  });
  return {
    process: child,
    ready,
    async stop() {
      if (child.connected) child.disconnect();
      const forced = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(forced);
    },
  };
}
