/**
 * A broker node's engine across redeploys. Node-RED closes and re-creates the node on every
 * deploy that touches it (a full deploy: every time); devices and MQTT clients must not notice
 * when the settings stayed the same. So a closing node parks its running engine; the re-created
 * node adopts it when the digest of its settings matches, and otherwise starts a new engine on
 * the same storage (broker-storage.ts: sessions, queued and retained messages, hosted devices'
 * state and history carry over) when its persistence settings still name it.
 */
import { toError } from "../transport/errors.js";
import { ParkingLot, settingsDigest } from "../transport/parking.js";
import type { BrokerEngine } from "./engine.js";
import { brokers } from "./registry.js";
import type { BrokerStorage } from "./broker-storage.js";
import type { ListenerConfig } from "./types.js";

export interface RunningBroker {
  engine: BrokerEngine;
  /** What the engine runs on; it outlives the engine (closed with the last one). */
  storage: BrokerStorage;
  /** The TCP ports it listens on: a new broker wanting one of them needs the parked one gone. */
  ports: number[];
}

const parked = new ParkingLot<RunningBroker>();
const serverNumbers = new WeakMap<object, number>();

/** The digest of everything an engine is built from (credentials and TLS material included). */
export function brokerDigest(settings: unknown, listeners: ListenerConfig[]): string {
  return settingsDigest({
    settings,
    // An HTTP server has no content to compare: it is the same one or not.
    listeners: listeners.map((l) => (l.kind === "ws-attach" ? { ...l, server: serverNumber(l.server) } : l)),
  });
}

function serverNumber(server: object): number {
  let n = serverNumbers.get(server);
  if (n === undefined) {
    n = Math.random();
    serverNumbers.set(server, n);
  }
  return n;
}

export function listenerPorts(listeners: ListenerConfig[]): number[] {
  return listeners.flatMap((l) => (l.kind === "ws-attach" ? [] : [l.port]));
}

/** Keeps a running broker for the node `nodeId` re-created by this deploy. */
export function parkBroker(nodeId: string, digest: string, running: RunningBroker): void {
  parked.park(nodeId, digest, running, (r) => {
    void closeBroker(nodeId, r, { keepStorage: false });
  });
}

/**
 * What a (re-)created broker node starts from: the parked engine when its settings are the
 * same; else the storage of the one it replaces when `storageKey` still names it (the caller
 * opens a storage when none is handed over). A parked engine of another node that listens on
 * one of `ports` is closed first, so the port is free.
 */
export function claimBroker(nodeId: string, digest: string, ports: number[], storageKey: string): { adopted?: RunningBroker; storage?: BrokerStorage } {
  const claimed = parked.claim(nodeId);
  parked.discardWhere((r) => r.ports.some((p) => ports.includes(p)));
  if (claimed === undefined) return {};
  if (claimed.digest === digest && !claimed.value.engine.closed) return { adopted: claimed.value, storage: claimed.value.storage };
  const keep = claimed.value.storage.key === storageKey;
  void closeBroker(nodeId, claimed.value, { keepStorage: keep });
  return keep ? { storage: claimed.value.storage } : {};
}

/**
 * Takes a broker out of service: unregistered at once (hosted devices leave it), ports freed at
 * once (listeners close synchronously), then aedes closes, then (unless kept for the next engine)
 * its storage. Never rejects.
 */
export async function closeBroker(nodeId: string, running: RunningBroker, options: { keepStorage: boolean }): Promise<Error | undefined> {
  brokers.detach(nodeId, running.engine);
  // Sessions end now (no next engine may lease them); the file closes once aedes let go of it.
  if (!options.keepStorage) running.storage.sessions.destroy();
  try {
    await running.engine.close();
    return undefined;
  } catch (err) {
    return toError(err);
  } finally {
    if (!options.keepStorage) running.storage.close();
  }
}
