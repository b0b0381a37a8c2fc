import { freePort } from "../observability/free-port.js";

/**
 * The URL of a loopback port nothing listens on: every connection to it is refused, which is how a model
 * download behaves on a machine without a network.
 */
export async function closedLoopbackUrl(): Promise<string> {
  return `http://127.0.0.1:${await freePort()}`;
}
