/**
 * Shows every call in the Stately inspector: XState's inspection events of the call actor and its children,
 * converted to the inspector's protocol here rather than by `@statelyai/inspect`, for three reasons.
 * - Its converter serialises a snapshot whole before any sanitiser runs: the call's `deps` (engines holding
 *   SDK clients, API keys, a TTS model) would be walked on every event. Here only `inspectableContext` and
 *   sanitised plain data are ever serialised.
 * - Audio must never reach the inspector: audio events are dropped, and so are their snapshots, unless one
 *   moved the statechart (the reply's first audio takes `thinking` to `speaking`), which is then shown with
 *   its audio replaced by its length.
 * - Every call runs in its own actor system, so session ids repeat from call to call (`x:0`...); they are
 *   prefixed with the CallSid to keep calls apart.
 */
import {
  createInspector,
  type StatelyActorEvent,
  type StatelyEventEvent,
  type StatelyInspectionEvent,
  type StatelySnapshotEvent,
} from "@statelyai/inspect";
import type { AnyEventObject, InspectionEvent } from "xstate";
import { type CallContext, inspectableContext, inspectableEvent } from "../../machines/call-types.js";
import type { CallInstrument } from "./call-instrument.js";
import { plainData } from "./plain-data.js";

/** Where converted events go: the adapter of a WebSocket (local relay) or Sky inspector. */
export interface StatelySink {
  send(event: StatelyInspectionEvent): void;
}

type InspectedSnapshot = StatelyActorEvent["snapshot"];

/** XState's actor refs at run time, beyond the `ActorRefLike` its inspection types expose. */
interface InspectedRef {
  id?: string;
  sessionId: string;
  _parent?: { sessionId: string };
  logic?: { config?: unknown };
  getSnapshot(): unknown;
}

/** Every call actor and child, shown in the inspector; a failure is logged once per call and never reaches it. */
export function statelyInstrument(sink: StatelySink): CallInstrument {
  return {
    attach: ({ start, log }) => {
      const inspection = new CallInspection(start.callSid, sink);
      let failures = 0;
      return {
        inspect: (event) => {
          try {
            inspection.inspect(event);
          } catch (error) {
            failures += 1;
            if (failures === 1) log.warn({ err: error }, "the Stately inspector could not show an event");
          }
        },
      };
    },
  };
}

/** The protocol version the inspector UI expects: whatever the installed `@statelyai/inspect` stamps. */
const PROTOCOL_VERSION = ((): string => {
  let version = "";
  const probe = createInspector(
    {
      send: (event) => {
        version = event._version;
      },
    },
    { autoStart: false },
  );
  probe.event("probe", "probe");
  return version;
})();

/** A machine's definition, serialised once per machine (every call shares it) and in full: it nests deep. */
const definitions = new WeakMap<object, string>();

class CallInspection {
  private sequence = 0;
  /** The last state value shown, per actor: an audio event that leaves it unchanged is not shown. */
  private readonly shownState = new Map<string, string>();
  /** Who sent each audio event, kept until its snapshot decides whether the event is shown. */
  private readonly audioSources = new WeakMap<AnyEventObject, string | undefined>();

  constructor(
    private readonly callSid: string,
    private readonly sink: StatelySink,
  ) {}

  inspect(event: InspectionEvent): void {
    switch (event.type) {
      case "@xstate.actor":
        this.sink.send(this.actorEvent(event.actorRef as unknown as InspectedRef, event.rootId));
        return;
      case "@xstate.event": {
        const source = event.sourceRef ? this.session(event.sourceRef.sessionId) : undefined;
        if (carriesAudio(event.event)) {
          this.audioSources.set(event.event, source);
          return;
        }
        this.sink.send(this.eventEvent(event.actorRef.sessionId, event.rootId, event.event, source));
        return;
      }
      case "@xstate.snapshot":
        this.snapshot(event.actorRef as unknown as InspectedRef, event.rootId, event.event, event.snapshot);
        return;
      default:
        return;
    }
  }

  private snapshot(ref: InspectedRef, rootId: string, cause: AnyEventObject, snapshot: unknown): void {
    const shown = inspectedSnapshot(ref, snapshot);
    const state = JSON.stringify(shown.value ?? shown.status);
    const sessionId = ref.sessionId;
    if (carriesAudio(cause)) {
      if (this.shownState.get(sessionId) === state) return;
      this.sink.send(this.eventEvent(sessionId, rootId, cause, this.audioSources.get(cause)));
    }
    this.shownState.set(sessionId, state);
    const message: StatelySnapshotEvent = {
      type: "@xstate.snapshot",
      event: sanitizedEvent(cause),
      snapshot: shown as StatelySnapshotEvent["snapshot"],
      ...this.base(sessionId, rootId),
    };
    this.sink.send(message);
  }

  private actorEvent(ref: InspectedRef, rootId: string): StatelyActorEvent {
    const isCall = ref._parent === undefined;
    const name = isCall ? `call ${this.callSid}` : (ref.id ?? ref.sessionId);
    let snapshot: InspectedSnapshot = { status: "active" };
    try {
      snapshot = inspectedSnapshot(ref, ref.getSnapshot());
    } catch {
      // A ref registered before its first snapshot exists: shown as active, its first snapshot follows.
    }
    return {
      type: "@xstate.actor",
      name,
      definition: definitionOf(ref, name),
      parentId: ref._parent ? this.session(ref._parent.sessionId) : undefined,
      snapshot,
      ...this.base(ref.sessionId, rootId),
    };
  }

  private eventEvent(
    sessionId: string,
    rootId: string,
    event: AnyEventObject,
    sourceId: string | undefined,
  ): StatelyEventEvent {
    return { type: "@xstate.event", event: sanitizedEvent(event), sourceId, ...this.base(sessionId, rootId) };
  }

  private base(sessionId: string, rootId: string) {
    this.sequence += 1;
    const session = this.session(sessionId);
    return {
      sessionId: session,
      rootId: this.session(rootId),
      id: `${session}#${this.sequence}`,
      createdAt: Date.now().toString(),
      _version: PROTOCOL_VERSION,
    };
  }

  private session(sessionId: string): string {
    return `${this.callSid}/${sessionId}`;
  }
}

function carriesAudio(event: AnyEventObject): boolean {
  return "audio" in event && ArrayBuffer.isView(event.audio);
}

function sanitizedEvent(event: AnyEventObject): AnyEventObject {
  return plainData(inspectableEvent(event)) as AnyEventObject;
}

/**
 * What the inspector sees of a snapshot: status and state value; the call's context without its engines; a
 * child's input as plain data (a speech producer's prompt, never its engines).
 */
function inspectedSnapshot(ref: InspectedRef, snapshot: unknown): InspectedSnapshot {
  const raw = snapshot as { status?: InspectedSnapshot["status"]; value?: unknown; context?: unknown } & {
    input?: unknown;
    output?: unknown;
    error?: unknown;
  };
  const shown: InspectedSnapshot = { status: raw.status };
  if (raw.value !== undefined) shown.value = raw.value;
  if (raw.context !== undefined) {
    shown.context = plainData(
      ref._parent === undefined ? inspectableContext(raw.context as CallContext) : raw.context,
    );
  } else if (raw.input !== undefined) {
    shown.context = { input: plainData(raw.input) };
  }
  if (raw.output !== undefined) shown.output = plainData(raw.output);
  if (raw.error !== undefined) shown.context = { ...shown.context, error: plainData(raw.error) };
  return shown;
}

function definitionOf(ref: InspectedRef, name: string): string {
  const config = ref.logic?.config;
  if (typeof config !== "object" || config === null) return JSON.stringify({ id: name });
  let definition = definitions.get(config);
  if (definition === undefined) {
    try {
      definition = JSON.stringify(config, (_key, value: unknown) =>
        typeof value === "function" ? { type: value.name } : value,
      );
    } catch {
      // A definition that cannot be written out still names its actor.
      definition = JSON.stringify({ id: name });
    }
    definitions.set(config, definition);
  }
  return definition;
}
