/**
 * `GET /`: someone who opens the server's address in a browser learns what it serves and where to look,
 * instead of a 404. JSON, because the routes it points at are JSON too and curl users read it as well.
 */
import type { FastifyInstance } from "fastify";

export function registerIndexPage(app: FastifyInstance): void {
  app.get("/", async () => ({
    service: "officero-ear: a phone voice agent (Twilio Media Streams -> STT -> LLM -> TTS)",
    routes: {
      "GET /health": "engine states, active calls; 503 while draining",
      "GET /metrics": "Prometheus metrics",
      "GET /calls": "the calls in progress with their transcripts (Bearer CALLS_API_KEY when it is set)",
      "POST /twilio/voice": "Twilio voice webhook (signed): answers TwiML that opens the media stream",
      "POST /twilio/status": "Twilio call status callback (signed)",
      "GET /twilio/stream": "the Media Streams WebSocket Twilio connects to",
    },
    watchLiveCalls: "set INSPECT=local to watch each call's statechart in the Stately inspector",
    docs: "README.md in the repository: set-up, configuration (.env.example), trying it without a phone",
  }));
}
