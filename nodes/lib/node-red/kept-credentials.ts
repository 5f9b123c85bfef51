/**
 * Credentials a node learns at run time and must still have after a restart (a ThingsBoard
 * device that provisioned itself gets its token once: ThingsBoard refuses a second provisioning
 * of the same name). Node-RED writes flows_cred.json only on a deploy, and RED.nodes.addCredentials
 * only changes its memory, so both are done: the credentials go into the node's credentials (the
 * next deploy saves them, the editor shows them as set) AND into
 * `<userDir>/iot-bridge/kept-credentials/<node id>.json`, sealed (AES-256-GCM) with the key fleets
 * use, derived from Node-RED's credential secret (fleet-secret.ts: its own key file when
 * encryption is off), written atomically with mode 0600.
 *
 * Each record carries a fingerprint of the settings it belongs to (no secret in it): changed
 * settings (another server, name or key) ignore the old record. Without a userDir (embedded
 * runtimes) only the node's credentials are updated. Nothing here logs a value.
 * Node-RED glue: handed the node file's RED, imports only Node-RED's types.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { NodeAPI } from "node-red";
import { fleetSecretBox } from "./fleet-secret.js";

interface KeptRecord {
  fingerprint: string;
  /** The sealed JSON of the credentials. */
  value: string;
}

export interface CredentialKeeper {
  /** What was kept for `nodeId` under the same settings, or undefined. */
  read(nodeId: string, fingerprint: string): unknown;
  /** Keeps `value` (durably when there is a userDir) and merges `credentials` into the node's. */
  write(nodeId: string, fingerprint: string, value: unknown, credentials: Record<string, string>): void;
}

/** A fingerprint of settings (hashed: the key of a device profile need not be readable in a file). */
export function settingsFingerprint(...parts: string[]): string {
  return createHash("sha256").update(JSON.stringify(parts)).digest("hex");
}

export function credentialKeeper(RED: NodeAPI): CredentialKeeper {
  const userDir = (RED.settings as { userDir?: unknown }).userDir;
  const dir = typeof userDir === "string" && userDir !== "" ? path.join(userDir, "iot-bridge", "kept-credentials") : undefined;
  const fileOf = (nodeId: string): string | undefined => (dir === undefined || !/^[\w.-]+$/.test(nodeId) ? undefined : path.join(dir, `${nodeId}.json`));
  return {
    read(nodeId, fingerprint) {
      const file = fileOf(nodeId);
      if (file === undefined) return undefined;
      let record: Partial<KeptRecord>;
      try {
        record = JSON.parse(readFileSync(file, "utf8")) as Partial<KeptRecord>;
      } catch {
        return undefined; // none kept yet, or unreadable: provision again
      }
      if (record.fingerprint !== fingerprint || typeof record.value !== "string") return undefined;
      try {
        return JSON.parse(fleetSecretBox(RED).open(record.value)) as unknown;
      } catch {
        return undefined; // sealed under another credential secret, or changed: provision again
      }
    },
    write(nodeId, fingerprint, value, credentials) {
      const current = (RED.nodes.getCredentials(nodeId) as Record<string, unknown> | undefined) ?? {}; // undefined for a node without credentials
      void Promise.resolve(RED.nodes.addCredentials(nodeId, { ...current, ...credentials })).catch(() => undefined);
      const file = fileOf(nodeId);
      if (file === undefined || dir === undefined) return;
      const record: KeptRecord = { fingerprint, value: fleetSecretBox(RED).seal(JSON.stringify(value)) };
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const temp = `${file}.${process.pid}.tmp`;
      try {
        writeFileSync(temp, JSON.stringify(record), { mode: 0o600 });
        renameSync(temp, file);
      } catch (err) {
        rmSync(temp, { force: true });
        throw err;
      }
    },
  };
}
