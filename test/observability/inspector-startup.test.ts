/**
 * `INSPECT=local` at start-up: the relay's page is served and announced, a taken port or a misbehaving client
 * costs the inspector at most, never the server.
 */
import { connect, createServer } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { WebSocket } from "ws";
import { createLogger, type Log } from "../../src/logger.js";
import { startInspector } from "../../src/observability/inspector.js";
import { startInspectorRelay } from "../../src/observability/inspector-relay.js";
import { LogCapture } from "../support/test-server.js";
import { freePort } from "./free-port.js";

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function capturedLog() {
  const logs = new LogCapture();
  return { logs, log: createLogger({ level: "info", secrets: [], destination: logs }) as unknown as Log };
}

describe("starting the Stately inspector", () => {
  it("serves the inspector page on INSPECT_PORT and says where to open it and where the UI comes from", async () => {
    const port = await freePort();
    const { logs, log } = capturedLog();
    const inspector = await startInspector({ mode: "local", port, log });
    expect(inspector).toBeDefined();
    cleanups.push(() => inspector?.stop());

    const announcement = logs.lines.find((line) => line.url === `http://localhost:${port}`);
    expect(announcement?.msg).toContain(`open http://localhost:${port}`);
    expect(announcement?.msg).toContain("https://stately.ai/inspect");
    const page = await (await fetch(`http://127.0.0.1:${port}/`)).text();
    expect(page).toContain('src="https://stately.ai/inspect"');
    expect(page).toContain(`ws://localhost:${port}`);
  });

  it("goes on without the inspector when its port is taken, or when it is off", async () => {
    const port = await freePort();
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(port, resolve));
    cleanups.push(() => new Promise((resolve) => squatter.close(resolve)));
    const { logs, log } = capturedLog();

    expect(await startInspector({ mode: "local", port, log })).toBeUndefined();
    expect(logs.messages()).toContain(
      `INSPECT=local: port ${port} is already in use (set INSPECT_PORT to a free port); calls go on without the inspector`,
    );
    expect(await startInspector({ mode: "off", port, log })).toBeUndefined();
  });

  it("survives a client that breaks the WebSocket protocol, which would crash the relay in the server's thread", async () => {
    const troubles: string[] = [];
    const relay = await startInspectorRelay({
      port: await freePort(),
      onTrouble: (detail) => troubles.push(detail),
      onExit: (detail) => troubles.push(`exit: ${detail}`),
    });
    cleanups.push(() => relay.stop());
    const port = Number(new URL(relay.socketUrl).port);

    const rogue = connect(port, "127.0.0.1");
    rogue.on("error", () => undefined);
    cleanups.push(() => rogue.destroy());
    await new Promise((resolve) => rogue.once("connect", resolve));
    rogue.write(
      "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    await new Promise((resolve) => rogue.once("data", resolve));
    // A client frame without a mask: ws rejects it with an 'error' event nobody in the relay listens to.
    rogue.write(Buffer.from([0x81, 0x02, 0x68, 0x69]));
    await vi.waitFor(() => expect(troubles).toEqual(["Invalid WebSocket frame: MASK must be set"]));

    const page = new WebSocket(relay.socketUrl);
    const app = new WebSocket(relay.socketUrl);
    cleanups.push(
      () => page.close(),
      () => app.close(),
    );
    await Promise.all([page, app].map((s) => new Promise((resolve) => s.once("open", resolve))));
    const received = new Promise<string>((resolve) =>
      page.once("message", (data) => resolve(data.toString())),
    );
    app.send('{"type":"still-relaying"}');
    expect(await received).toBe('{"type":"still-relaying"}');
  });
});
