/**
 * A local stand-in for Piper's HTTP server (`python3 -m piper.http_server`), after its documentation
 * (docs/API_HTTP.md of OHF-Voice/piper1-gpl): `POST /` with a JSON body `{"text", "length_scale"?,
 * "noise_scale"?, "noise_w_scale"?, "speaker_id"?}` answered by a WAV file. Like the real server (a Flask view
 * returning the bytes) the WAV comes with Flask's default `text/html` content type and only once it is
 * complete; empty text is a 500 error page. `layout: "synthesize"` mimics recent releases, which serve a web
 * page at `GET /` (so `POST /` is a 405) and synthesise at `POST /synthesize`.
 */
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface FakePiperBehaviour {
  /** The WAV file every successful answer carries, or the WAV made for each text. */
  wav: Uint8Array | ((text: string) => Promise<Uint8Array>);
  /** Where synthesis lives: `/` (the documented API, default) or `/synthesize` (recent releases). */
  layout?: "root" | "synthesize";
  /** Accept the request and never answer, until the client hangs up. */
  hang?: boolean;
}

export interface RecordedPiperRequest {
  method: string;
  path: string;
  contentType: string | undefined;
  body: unknown;
  /** Settles when the client hung up (or the answer was sent). */
  closed: Promise<void>;
}

export interface FakePiperServer {
  /** The server root, e.g. `http://127.0.0.1:40123`. */
  url: string;
  requests: RecordedPiperRequest[];
  setBehaviour(behaviour: FakePiperBehaviour): void;
  close(): Promise<void>;
}

export async function startFakePiperServer(
  initial: FakePiperBehaviour,
  options: { port?: number } = {},
): Promise<FakePiperServer> {
  let behaviour = initial;
  const requests: RecordedPiperRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // Recorded as text; the handler below answers it like Flask's json.loads failure.
      }
      const closed = new Promise<void>((resolve) => res.on("close", () => resolve()));
      const path = req.url ?? "/";
      requests.push({
        method: req.method ?? "",
        path,
        contentType: req.headers["content-type"],
        body,
        closed,
      });
      void answer(res, path, req.method ?? "", body, behaviour);
    });
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    setBehaviour(next) {
      behaviour = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function answer(
  res: ServerResponse,
  path: string,
  method: string,
  body: unknown,
  behaviour: FakePiperBehaviour,
) {
  const synthesisPath = behaviour.layout === "synthesize" ? "/synthesize" : "/";
  if (path !== synthesisPath) {
    const known = path === "/" || path === "/synthesize";
    res.writeHead(known ? 405 : 404, { "content-type": "text/html; charset=utf-8" });
    res.end(known ? "<title>405 Method Not Allowed</title>" : "<title>404 Not Found</title>");
    return;
  }
  if (method !== "POST") {
    res.writeHead(405, { "content-type": "text/html; charset=utf-8" }).end("Method Not Allowed");
    return;
  }
  const text = typeof body === "object" && body !== null ? (body as { text?: unknown }).text : undefined;
  if (typeof text !== "string" || text.trim() === "") {
    // Piper raises ValueError("No text provided"), which Flask turns into its generic error page.
    res.writeHead(500, { "content-type": "text/html; charset=utf-8" }).end("Internal Server Error");
    return;
  }
  if (behaviour.hang) return;
  const wav = typeof behaviour.wav === "function" ? await behaviour.wav(text) : behaviour.wav;
  res.writeHead(200, { "content-type": "text/html; charset=utf-8", "content-length": wav.length });
  res.end(wav);
}
