import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { browserUrl, ConfigError, loadConfig, streamUrl } from "../../src/config.js";
import { describeEngines, ollamaQueueWarning } from "../../src/engine-status.js";
import { DEFAULT_MODELS_DIR } from "../../src/models/model-catalog.js";

describe("loadConfig", () => {
  it("starts with nothing configured, every contract default written out", () => {
    const { env, secrets } = loadConfig({});
    expect(env).toMatchObject({
      PORT: 8080,
      HOST: "0.0.0.0",
      PUBLIC_URL: "http://localhost:8080",
      TWILIO_API_BASE_URL: "https://api.twilio.com",
      TWILIO_VALIDATE_STREAM_SIGNATURE: true,
      STT_PROVIDER: "whisper",
      WHISPER_MODEL: "tiny.en",
      DEEPGRAM_MODEL: "nova-3",
      LLM_PROVIDER: "embedded",
      LLM_MODEL: "Qwen/Qwen3-8B",
      LLM_API_KEY: "EMPTY",
      TTS_PROVIDER: "kokoro",
      MODELS_DIR: DEFAULT_MODELS_DIR,
      HF_ENDPOINT: "https://huggingface.co",
      KOKORO_VOICE: "af_heart",
      KOKORO_DTYPE: "q8",
      INSPECT: "off",
    });
    expect(env.TWILIO_AUTH_TOKEN).toBeUndefined();
    expect(env.LLM_MODEL_PATH).toBeUndefined();
    expect(env.WHISPER_BASE_URL).toBeUndefined();
    expect(env.GREETING.length).toBeGreaterThan(0);
    expect(secrets).toEqual([]);
  });

  it("replaces each embedded engine by the one whose server or account is configured", () => {
    const providers = (source: Record<string, string>) => {
      const { env } = loadConfig(source);
      return [env.STT_PROVIDER, env.LLM_PROVIDER, env.TTS_PROVIDER];
    };
    expect(providers({})).toEqual(["whisper", "embedded", "kokoro"]);
    expect(providers({ DEEPGRAM_API_KEY: "dg-key-456" })).toEqual(["deepgram", "embedded", "kokoro"]);
    expect(providers({ LLM_BASE_URL: "http://gpu:8000/v1" })).toEqual(["whisper", "vllm", "kokoro"]);
    expect(providers({ VLLM_BASE_URL: "http://gpu:8000/v1" })).toEqual(["whisper", "vllm", "kokoro"]);
    expect(providers({ TTS_BASE_URL: "http://tts:8880/v1" })).toEqual(["whisper", "embedded", "openai"]);
    expect(providers({ PIPER_VOICE: "/voices/a.onnx" })).toEqual(["whisper", "embedded", "piper"]);
    expect(providers({ PIPER_BASE_URL: "http://piper:5000" })).toEqual(["whisper", "embedded", "piper"]);
    // Named providers win over what is configured beside them.
    expect(
      providers({
        DEEPGRAM_API_KEY: "dg-key-456",
        STT_PROVIDER: "whisper",
        LLM_BASE_URL: "http://gpu:8000/v1",
        LLM_PROVIDER: "embedded",
        TTS_BASE_URL: "http://tts:8880/v1",
        TTS_PROVIDER: "kokoro",
      }),
    ).toEqual(["whisper", "embedded", "kokoro"]);
  });

  it("knows Ollama by its port when LLM_PROVIDER is unset, and always has a temperature to send", () => {
    const provider = (source: Record<string, string>) => loadConfig(source).env.LLM_PROVIDER;
    expect(provider({ LLM_BASE_URL: "http://localhost:8000/v1" })).toBe("vllm");
    expect(provider({ LLM_BASE_URL: "http://localhost:11434/v1" })).toBe("ollama");
    expect(provider({ LLM_BASE_URL: "http://gpu:11434/v1", LLM_PROVIDER: "vllm" })).toBe("vllm");
    expect(provider({ LLM_PROVIDER: "openai" })).toBe("openai");
    // A server named without its URL is looked for where vLLM listens by default.
    expect(loadConfig({ LLM_PROVIDER: "vllm" }).env.LLM_BASE_URL).toBe("http://localhost:8000/v1");
    expect(loadConfig({}).env.LLM_TEMPERATURE).toBe(0.7);
    expect(loadConfig({ LLM_TEMPERATURE: "0.2" }).env.LLM_TEMPERATURE).toBe(0.2);
    expect(() => loadConfig({ LLM_PROVIDER: "llamafile" })).toThrow(/LLM_PROVIDER/);
    expect(() => loadConfig({ LLM_TEMPERATURE: "hot" })).toThrow(/LLM_TEMPERATURE/);
  });

  it("lets PUBLIC_URL follow PORT when it is left unset, and keeps an explicit one", () => {
    expect(loadConfig({ PORT: "3000" }).env.PUBLIC_URL).toBe("http://localhost:3000");
    expect(loadConfig({ PORT: "3000", PUBLIC_URL: "" }).env.PUBLIC_URL).toBe("http://localhost:3000");
    expect(loadConfig({ PORT: "3000", PUBLIC_URL: "https://voice.example.com" }).env.PUBLIC_URL).toBe(
      "https://voice.example.com",
    );
  });

  it("treats empty variables as unset, as a copied .env.example leaves them", () => {
    const { env } = loadConfig({ PORT: "", TWILIO_AUTH_TOKEN: "", KOKORO_MODEL_DIR: " " });
    expect(env.PORT).toBe(8080);
    expect(env.TWILIO_AUTH_TOKEN).toBeUndefined();
    expect(env.KOKORO_MODEL_DIR).toBeUndefined();
  });

  it("accepts VLLM_BASE_URL as the alias of LLM_BASE_URL, the canonical name winning", () => {
    expect(loadConfig({ VLLM_BASE_URL: "http://gpu:8000/v1" }).env.LLM_BASE_URL).toBe("http://gpu:8000/v1");
    expect(
      loadConfig({ VLLM_BASE_URL: "http://gpu:8000/v1", LLM_BASE_URL: "http://ollama:11434/v1" }).env
        .LLM_BASE_URL,
    ).toBe("http://ollama:11434/v1");
  });

  it("names every bad variable, what is wrong and what it is for, all at once", () => {
    let error: unknown;
    try {
      loadConfig({ PORT: "eighty", STT_PROVIDER: "google", TWILIO_VALIDATE_STREAM_SIGNATURE: "maybe" });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems;
    expect(problems).toHaveLength(3);
    expect(problems.find((p) => p.startsWith("PORT"))).toMatch(/"eighty".*TCP port/);
    expect(problems.find((p) => p.startsWith("STT_PROVIDER"))).toMatch(/deepgram.*whisper.*"google"/);
    expect(problems.find((p) => p.startsWith("TWILIO_VALIDATE_STREAM_SIGNATURE"))).toMatch(/true or false/);
  });

  it("never echoes a secret's value in a validation error", () => {
    // An account SID must look like one; the auth token next to it must not appear in any message.
    expect(() => loadConfig({ TWILIO_ACCOUNT_SID: "not-a-sid", TWILIO_AUTH_TOKEN: "s3cr3t-token" })).toThrow(
      /TWILIO_ACCOUNT_SID/,
    );
    try {
      loadConfig({ PORT: "x", TWILIO_AUTH_TOKEN: "s3cr3t-token" });
    } catch (error) {
      expect(String(error)).not.toContain("s3cr3t-token");
    }
  });

  it("collects secrets for the log scrubber but not vLLM's placeholder key", () => {
    const { secrets } = loadConfig({
      TWILIO_AUTH_TOKEN: "auth-token-123",
      DEEPGRAM_API_KEY: "dg-key-456",
      TTS_API_KEY: "tts-key-789",
    });
    expect(secrets.sort()).toEqual(["auth-token-123", "dg-key-456", "tts-key-789"]);
  });

  it("resolves MODELS_DIR to an absolute path and keeps HF_TOKEN out of logs", () => {
    const { env, secrets } = loadConfig({ MODELS_DIR: "some/models", HF_TOKEN: "hf_abcdefgh" });
    expect(env.MODELS_DIR).toBe(join(process.cwd(), "some/models"));
    expect(secrets).toEqual(["hf_abcdefgh"]);
    expect(() => loadConfig({ HF_ENDPOINT: "ftp://mirror" })).toThrow(/HF_ENDPOINT/);
  });

  it("gives the URL a browser on this machine opens, localhost when listening on every interface", () => {
    expect(browserUrl({ HOST: "0.0.0.0", PORT: 8080 })).toBe("http://localhost:8080/");
    expect(browserUrl({ HOST: "127.0.0.1", PORT: 3000 })).toBe("http://127.0.0.1:3000/");
    expect(browserUrl({ HOST: "::1", PORT: 3000 })).toBe("http://[::1]:3000/");
  });

  it("derives the wss:// stream URL from PUBLIC_URL's host", () => {
    expect(streamUrl({ PUBLIC_URL: "https://voice.example.com" })).toBe(
      "wss://voice.example.com/twilio/stream",
    );
    expect(streamUrl({ PUBLIC_URL: "http://localhost:8080" })).toBe("wss://localhost:8080/twilio/stream");
  });
});

describe("describeEngines", () => {
  it("says per engine what is configured and what is missing", () => {
    const engines = describeEngines(loadConfig({ STT_PROVIDER: "deepgram" }).env);
    const byName = Object.fromEntries(engines.map((e) => [e.engine, e]));
    expect(byName.stt?.ready).toBe(false);
    expect(byName.stt?.missing.join()).toMatch(/DEEPGRAM_API_KEY/);
    expect(byName.telephony?.missing.join()).toMatch(/TWILIO_AUTH_TOKEN/);
    expect(byName.llm?.detail).toContain("Qwen3-1.7B-Q4_K_M.gguf");

    const ready = describeEngines(
      loadConfig({
        DEEPGRAM_API_KEY: "key-1234567",
        TWILIO_AUTH_TOKEN: "token-1234567",
        TWILIO_ACCOUNT_SID: `AC${"0".repeat(32)}`,
      }).env,
    );
    expect(ready.every((e) => e.ready)).toBe(true);
    expect(JSON.stringify(ready)).not.toContain("key-1234567");
  });

  it("asks for the speech endpoint when TTS_PROVIDER=openai has none", () => {
    const tts = describeEngines(loadConfig({ TTS_PROVIDER: "openai" }).env).find((e) => e.engine === "tts");
    expect(tts?.missing.join()).toMatch(/TTS_BASE_URL/);
  });
});

describe("ollamaQueueWarning", () => {
  it("warns only for Ollama, naming OLLAMA_NUM_PARALLEL and its value when this process has it", () => {
    expect(ollamaQueueWarning(loadConfig({}).env, {})).toBeUndefined();
    const ollama = loadConfig({ LLM_BASE_URL: "http://gpu:11434/v1" }).env;
    expect(ollamaQueueWarning(ollama, {})).toMatch(/OLLAMA_NUM_PARALLEL \(default 4/);
    expect(ollamaQueueWarning(ollama, { OLLAMA_NUM_PARALLEL: "2" })).toMatch(
      /OLLAMA_NUM_PARALLEL=2: more than 2 simultaneous calls wait/,
    );
  });
});

describe("describeEngines for the self-hosted profile", () => {
  it("names where each default model goes in MODELS_DIR, left to the load state to report", () => {
    const engines = describeEngines(loadConfig({ MODELS_DIR: "/srv/models" }).env);
    const byName = Object.fromEntries(engines.map((e) => [e.engine, e]));
    expect(byName.stt?.detail).toContain(
      "/srv/models/sherpa-onnx-whisper-tiny.en (downloaded there on first start)",
    );
    expect(byName.llm?.detail).toContain("/srv/models/unsloth/Qwen3-1.7B-GGUF/Qwen3-1.7B-Q4_K_M.gguf");
    expect(byName.tts?.detail).toContain("from /srv/models (downloaded there on first start)");
    expect([byName.stt?.missing, byName.llm?.missing, byName.tts?.missing]).toEqual([[], [], []]);
  });

  it("says the in-process Whisper model is missing and how to fetch it, and asks nothing of a Whisper server", () => {
    const dir = "/nonexistent/whisper-models";
    const inProcess = describeEngines(loadConfig({ STT_PROVIDER: "whisper", WHISPER_MODEL_DIR: dir }).env);
    const stt = inProcess.find((engine) => engine.engine === "stt");
    expect(stt).toMatchObject({ provider: "whisper", ready: false });
    expect(stt?.missing.join(" ")).toMatch(
      /WHISPER_MODEL_DIR: the tiny\.en model is not there .*npm run models -- download whisper/,
    );
    const server = describeEngines(
      loadConfig({ STT_PROVIDER: "whisper", WHISPER_BASE_URL: "http://127.0.0.1:8178/v1" }).env,
    ).find((engine) => engine.engine === "stt");
    expect(server).toMatchObject({ provider: "whisper", ready: true });
  });
});
