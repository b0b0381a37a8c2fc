import { EngineError, type EngineName } from "./engines.js";

/** Any thrown value as an `EngineError` of `engine`, keeping an existing one as it is. */
export function asEngineError(engine: EngineName, error: unknown): EngineError {
  if (error instanceof EngineError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new EngineError(engine, "unknown", message, { cause: error });
}
