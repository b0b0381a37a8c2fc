/**
 * A stand-in for api.twilio.com's Calls resource, enough for hang-up and transfer: it checks HTTP Basic
 * auth (account SID and auth token, as the `twilio` library sends them), parses the form body, records
 * every request, and answers with Twilio's JSON shapes, including its error body for a call that ended.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface TwilioApiRequest {
  method: string;
  path: string;
  callSid: string | undefined;
  form: Record<string, string>;
  authorized: boolean;
}

export interface FakeTwilioApi {
  url: string;
  requests: TwilioApiRequest[];
  /** Calls the fake treats as already completed (Twilio answers 400 / code 21220 to an update). */
  endedCalls: Set<string>;
  close(): Promise<void>;
}

const CALL_PATH = /^\/2010-04-01\/Accounts\/(AC[0-9a-f]{32})\/Calls\/(CA[0-9a-f]{32})\.json$/;

export async function startFakeTwilioApi(credentials: {
  accountSid: string;
  authToken: string;
  /** Port to listen on (127.0.0.1). Default: any free port. */
  port?: number;
}): Promise<FakeTwilioApi> {
  const requests: TwilioApiRequest[] = [];
  const endedCalls = new Set<string>();
  const expectedAuth = `Basic ${Buffer.from(`${credentials.accountSid}:${credentials.authToken}`).toString("base64")}`;

  const server: Server = createServer(async (req, res) => {
    const body = await readBody(req);
    const path = new URL(req.url ?? "/", "http://fake").pathname;
    const match = CALL_PATH.exec(path);
    const form = Object.fromEntries(new URLSearchParams(body));
    const authorized = req.headers.authorization === expectedAuth;
    requests.push({ method: req.method ?? "", path, callSid: match?.[2], form, authorized });
    const reply = (status: number, json: unknown) => {
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(json));
    };
    if (!authorized) return reply(401, { code: 20003, message: "Authenticate", status: 401 });
    if (!match || req.method !== "POST")
      return reply(404, { code: 20404, message: "Not found", status: 404 });
    const callSid = match[2] as string;
    if (endedCalls.has(callSid)) {
      return reply(400, {
        code: 21220,
        message: "Call is not in-progress. Cannot redirect.",
        more_info: "https://www.twilio.com/docs/errors/21220",
        status: 400,
      });
    }
    if (form.Status === "completed") endedCalls.add(callSid);
    return reply(200, {
      sid: callSid,
      account_sid: match[1],
      status: form.Status ?? "in-progress",
      uri: `/2010-04-01/Accounts/${match[1]}/Calls/${callSid}.json`,
    });
  });

  await new Promise<void>((resolve) => server.listen(credentials.port ?? 0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    endedCalls,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks).toString()));
    req.on("error", reject);
  });
}
