/**
 * The slice of aedes this engine uses. aedes 2 is an ES module and our build is CommonJS, so it
 * is loaded with dynamic import(); its own types are imported with an explicit resolution mode.
 */
import type { Aedes, AedesOptions, Client, AedesPublishPacket, Subscription as AedesSubscription, PublishPacket } from "aedes" with { "resolution-mode": "import" };

export type { Aedes, AedesOptions, Client, AedesPublishPacket, AedesSubscription, PublishPacket };

interface AedesModule {
  Aedes: typeof Aedes;
}

let loading: Promise<AedesModule> | undefined;

/** Loads aedes once per process; a failure is retried on the next call. */
export function loadAedes(): Promise<AedesModule> {
  loading ??= (import("aedes") as Promise<AedesModule>).catch((err: unknown) => {
    loading = undefined;
    throw err;
  });
  return loading;
}

/**
 * What the engine hands from one aedes instance to the next (see session-store.ts): both are
 * public fields of the instance, missing from aedes' type declarations.
 */
export interface AedesHandover {
  persistence: object;
  counter: number;
}

/**
 * aedes keeps its MQTT parser on a private field. The engine needs it for one thing aedes has no
 * hook for: rewriting UNSUBSCRIBE filters into the client's namespace before aedes looks them up
 * (otherwise a namespaced client could never unsubscribe). aedes is pinned exactly for this, and
 * a test proves unsubscribe works through a namespace.
 */
export interface ClientWithParser {
  _parser?: { prependListener(event: "packet", listener: (packet: { cmd: string; unsubscriptions?: string[] }) => void): unknown };
}
