/**
 * Which media stream upgrades are let in: a socket costs a file descriptor and memory before it says
 * anything, so the streams that have not sent `start` yet are capped in total, every stream is capped per
 * source address, and a stream that stays silent past its start deadline is closed (see media-stream-session).
 */
export interface StreamAdmissionLimits {
  /** Streams open but not yet started, across all sources. */
  maxPending: number;
  /** Streams open from one source address, started or not. */
  maxPerSource: number;
}

export type AdmissionRefusal = "too many pending streams" | "too many streams from this source";

export interface AdmittedStream {
  /** The stream sent a valid `start`: it no longer counts as pending. */
  started(): void;
  /** The socket closed (or was never opened). Idempotent. */
  release(): void;
}

export interface StreamAdmission {
  admit(source: string): AdmittedStream | AdmissionRefusal;
}

export function createStreamAdmission(limits: StreamAdmissionLimits): StreamAdmission {
  let pending = 0;
  const perSource = new Map<string, number>();
  return {
    admit(source) {
      if (pending >= limits.maxPending) return "too many pending streams";
      const open = perSource.get(source) ?? 0;
      if (open >= limits.maxPerSource) return "too many streams from this source";
      pending += 1;
      perSource.set(source, open + 1);
      let isPending = true;
      let released = false;
      const leavePending = () => {
        if (isPending) pending -= 1;
        isPending = false;
      };
      return {
        started: leavePending,
        release() {
          if (released) return;
          released = true;
          leavePending();
          const left = (perSource.get(source) ?? 1) - 1;
          if (left > 0) perSource.set(source, left);
          else perSource.delete(source);
        },
      };
    },
  };
}
