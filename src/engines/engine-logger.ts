/**
 * The one logger type of the engine adapters: the part of a pino logger they call, `(fields, message)`. An
 * adapter that writes only some levels takes `Pick<EngineLogger, ...>` of it, so a test can hand it just those.
 */
export interface EngineLogger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** For an adapter built without a logger. */
export const SILENT_LOGGER: EngineLogger = { debug() {}, info() {}, warn() {}, error() {} };
