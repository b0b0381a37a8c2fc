import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { describeListenError } from "../../src/listen-error.js";
import { closedLoopbackUrl } from "../support/closed-port.js";

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** A port this test holds, so anything else that tries to listen on it gets a real EADDRINUSE. */
async function takenPort(): Promise<number> {
  const server = createServer();
  servers.push(server);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no TCP address");
  return address.port;
}

describe("describeListenError", () => {
  it("names the port and what to do for the error Node really raises on a taken port", async () => {
    const port = await takenPort();
    const second = createServer();
    second.listen(port, "127.0.0.1");
    const [error] = await once(second, "error");
    expect(describeListenError(error, { port, host: "127.0.0.1" })).toBe(
      `PORT ${port} is in use: stop the other server on it, or set PORT to a free port`,
    );
  });

  it("leaves errors it has no advice for to the caller", () => {
    expect(describeListenError(new Error("boom"), { port: 8080, host: "0.0.0.0" })).toBeUndefined();
    expect(describeListenError(undefined, { port: 8080, host: "0.0.0.0" })).toBeUndefined();
  });
});

describe("the server on a port that is in use", () => {
  it("exits with status 1 and one line saying PORT is in use, not a stack trace", async () => {
    const port = await takenPort();
    const models = await mkdtemp(join(tmpdir(), "listen-error-models-"));
    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
      env: {
        ...process.env,
        PORT: String(port),
        HOST: "127.0.0.1",
        INSPECT: "off",
        LOG_LEVEL: "info",
        // The default engines start fetching their models at once: never from the internet in a test.
        MODELS_DIR: models,
        HF_ENDPOINT: await closedLoopbackUrl(),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const [code] = await once(child, "exit");
    await rm(models, { recursive: true, force: true });
    expect(code).toBe(1);
    expect(output).toContain(`PORT ${port} is in use`);
    expect(output).not.toMatch(/\n\s+at /);
  }, 120_000);
});
