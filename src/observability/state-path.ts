import type { StateValue } from "xstate";

/** A state value as one readable string: `active.replying.thinking.waitingForLlm` (parallel regions: `a.b, c.d`). */
export function statePath(value: StateValue): string {
  if (typeof value === "string") return value;
  return Object.entries(value)
    .map(([key, child]) => (child === undefined ? key : `${key}.${statePath(child)}`))
    .join(", ");
}
