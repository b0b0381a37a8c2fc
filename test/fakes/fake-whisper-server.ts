/**
 * A local stand-in for an OpenAI-compatible transcription server (speaches, whisper.cpp server, vLLM), after
 * OpenAI's API reference for `POST /v1/audio/transcriptions`: a multipart/form-data body with the audio in
 * `file` and the fields `model`, `language`, `temperature`, `response_format`; for `response_format: "json"`
 * the answer `{"text": "..."}`; errors as `{"error": {"message", "type", "code"}}`. The multipart body is
 * parsed by the platform's own parser (`Response.formData()`), and every upload is recorded.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedUpload {
  path: string;
  authorization: string | undefined;
  /** The form's text fields. */
  fields: Record<string, string>;
  fileName: string;
  fileType: string;
  file: Uint8Array;
  /** Set when the client hung up before the answer was sent. */
  clientAborted: boolean;
}

export type FakeAnswer = { text: string } | { status: number; message: string };

export interface FakeWhisperServer {
  /** `http://127.0.0.1:<port>/v1` */
  baseUrl: string;
  uploads: RecordedUpload[];
  /** Decides each answer (default `{text: "hello"}`); may wait, e.g. for the client to hang up. */
  answer: (upload: RecordedUpload, index: number) => FakeAnswer | Promise<FakeAnswer>;
  /** Resolves with the first upload the server received. */
  firstUpload(): Promise<RecordedUpload>;
  /** Resolves once the client hung up on the upload. */
  hungUp(upload: RecordedUpload): Promise<void>;
  close(): Promise<void>;
}

export async function startFakeWhisperServer(options: { port?: number } = {}): Promise<FakeWhisperServer> {
  const hangUps = new WeakMap<RecordedUpload, Promise<void>>();
  let firstArrived: (upload: RecordedUpload) => void = () => undefined;
  const first = new Promise<RecordedUpload>((resolve) => {
    firstArrived = resolve;
  });
  const fake: FakeWhisperServer = {
    baseUrl: "",
    uploads: [],
    answer: () => ({ text: "hello" }),
    firstUpload: () => first,
    hungUp: (upload) => hangUps.get(upload) ?? Promise.reject(new Error("unknown upload")),
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        // Keep-alive sockets would hold the close for seconds.
        server.closeAllConnections();
      }),
  };
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (req.method !== "POST" || req.url !== "/v1/audio/transcriptions") {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: `no route ${req.url}`, type: "invalid_request_error" } }));
      return;
    }
    const form = await new Response(Buffer.concat(chunks), {
      headers: { "content-type": req.headers["content-type"] ?? "" },
    }).formData();
    const fields: Record<string, string> = {};
    let file: File | undefined;
    for (const [name, value] of form.entries()) {
      if (typeof value === "string") fields[name] = value;
      else if (name === "file") file = value;
    }
    if (file === undefined) {
      res.writeHead(400, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: "file is required", type: "invalid_request_error" } }));
      return;
    }
    const upload: RecordedUpload = {
      path: req.url,
      authorization: req.headers.authorization,
      fields,
      fileName: file.name,
      fileType: file.type,
      file: new Uint8Array(await file.arrayBuffer()),
      clientAborted: false,
    };
    hangUps.set(
      upload,
      new Promise((resolve) =>
        res.on("close", () => {
          if (!res.writableFinished) {
            upload.clientAborted = true;
            resolve();
          }
        }),
      ),
    );
    fake.uploads.push(upload);
    firstArrived(upload);
    const answer = await fake.answer(upload, fake.uploads.length - 1);
    if (res.destroyed) return;
    if ("text" in answer) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ text: answer.text }));
    } else {
      res.writeHead(answer.status, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: answer.message, type: "server_error", code: null } }));
    }
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", resolve));
  fake.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  return fake;
}

/**
 * Answers that hear utterance n as `lines[n]` (cycling when the caller says more). The recogniser's VAD
 * decides what an utterance is and uploads it as it grows (interims) and then whole, each upload from the
 * segment's start: an upload that the previous one is the start of (or the other way round) is the same
 * utterance, anything else the next one. An upload says nothing of its call, so with several calls at once
 * the lines are dealt in arrival order.
 */
export function utterancesAsLines(
  lines: readonly string[],
  onHeard: (utterance: number, line: string) => void = () => undefined,
): FakeWhisperServer["answer"] {
  let current: { audio: Uint8Array; line: string } | undefined;
  let utterances = 0;
  return (upload) => {
    const audio = upload.file.subarray(WAV_HEADER_BYTES);
    if (current && sameStart(current.audio, audio)) {
      if (audio.length > current.audio.length) current.audio = audio;
    } else {
      current = { audio, line: lines[utterances % lines.length] ?? "" };
      onHeard(utterances, current.line);
      utterances += 1;
    }
    return { text: current.line };
  };
}

const WAV_HEADER_BYTES = 44;
/** The resampler's last few output samples depend on where its input stopped: compared short of them. */
const RESAMPLER_TAIL_BYTES = 256;

function sameStart(a: Uint8Array, b: Uint8Array): boolean {
  const length = Math.min(a.length, b.length) - RESAMPLER_TAIL_BYTES;
  if (length <= 0) return false;
  return Buffer.compare(a.subarray(0, length), b.subarray(0, length)) === 0;
}
