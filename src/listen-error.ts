/**
 * Why the server could not listen, in the words a person needs to fix it. Node reports a taken port as an
 * `EADDRINUSE` error with a stack trace that says nothing about what to do; the common causes (another copy
 * of the server, a privileged port, a HOST that is not this machine's) each get one line naming the setting.
 */
export function describeListenError(
  error: unknown,
  address: { port: number; host: string },
): string | undefined {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  switch (code) {
    case "EADDRINUSE":
      return `PORT ${address.port} is in use: stop the other server on it, or set PORT to a free port`;
    case "EACCES":
      return `PORT ${address.port} needs privileges on this machine: set PORT to 1024 or above`;
    case "EADDRNOTAVAIL":
      return `HOST ${address.host} is not an address of this machine: set HOST=0.0.0.0 (all) or 127.0.0.1`;
    default:
      return undefined;
  }
}
