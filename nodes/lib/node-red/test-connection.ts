/**
 * The editor's "Test connection" button (resources/test-connection.js) through Node-RED's admin API:
 *
 *   POST /iot-bridge/test-connection/:type   {id, config, credentials} -> {ok, code, message}
 *
 * for the config node types that register a test here (blynk-device, thingsboard-device,
 * thingspeak-channel), each needing `<type>.write` (the answer says whether credentials work).
 * The dialog's settings are tried as they are, deployed or not; a credential field the dialog
 * did not change (`__PWRD__`) is the stored one of node `id` when that node is of this type; an
 * empty one is none. At most MAX_RUNNING_TESTS run at once (then 429, `busy`). `message` is in the config
 * node's catalog (`<type>.test.<code>`), never holds a credential, and is not logged.
 * Node-RED glue: handed each node file's RED (its RED._ words that node's answers).
 */
import type { NodeAPI } from "node-red";
import { brokers } from "../broker/index.js";
import { toError } from "../transport/errors.js";
import { ConfigError } from "../transport/link-config.js";
import type { ProbeOutcome } from "../transport/link-probe.js";
import { reasonWords } from "../transport/mqtt-reasons.js";
import { Redactor } from "../transport/redact.js";

/** How long one test may take: a server that says nothing is "no answer within 10 s". */
export const TEST_TIMEOUT_MS = 10_000;

export interface TestAnswer {
  ok: boolean;
  /** A short id the editor may act on: connected, refused, dns, port-closed, timeout, tls, unreachable, config, broker-*, hosted, ... */
  code: string;
  /** Words for the user, from `<type>.test.<code>`. */
  message: string;
}

/** Words of `<type>.test.<key>`. */
export type Words = (key: string, params?: Record<string, string>) => string;

/** The dialog's settings, with its unchanged credentials taken from the deployed node. */
export interface TestRequest {
  id: string;
  config: Record<string, unknown>;
  credentials: Record<string, string>;
}

export interface ConnectionTest {
  /** The type's credential fields. */
  readonly credentials: readonly string[];
  /** Those of them that are secret (password-type): masked in answers. A client id or user name is shown. */
  readonly secrets: readonly string[];
  /** Tries the settings; a ConfigError thrown here answers `config` in the type's words. */
  run(request: TestRequest, words: Words): Promise<TestAnswer>;
}

interface Registered {
  RED: NodeAPI;
  test: ConnectionTest;
}

interface Req {
  params: Record<string, unknown>;
  body?: unknown;
}

interface Res {
  set(field: string, value: string): Res;
  status(code: number): Res;
  json(body: unknown): void;
}

type Next = (err?: unknown) => void;

/** Per admin app: the types registered (node files load once; test runtimes come and go). */
const registries = new WeakMap<object, Map<string, Registered>>();

/** What the dialog sends for a password it did not change. */
const UNCHANGED = "__PWRD__";

/** Tests running at once in this runtime: each holds a connection for up to TEST_TIMEOUT_MS. */
export const MAX_RUNNING_TESTS = 4;
let running = 0;

/** Registers `type`'s test and mounts the route once per admin app. */
export function mountTestConnection(RED: NodeAPI, type: string, test: ConnectionTest): void {
  const app = RED.httpAdmin as typeof RED.httpAdmin | undefined;
  if (app === undefined) return;
  let registry = registries.get(app);
  if (registry === undefined) {
    const types = new Map<string, Registered>();
    registry = types;
    registries.set(app, types);
    const permitted = (req: Req, res: Res, next: Next): void => {
      res.set("Cache-Control", "no-store");
      // The permission first, for unknown types too: a caller without it learns nothing, not even which types exist.
      const entry = types.get(param(req, "type")) ?? types.values().next().value;
      if (entry === undefined) {
        next();
        return;
      }
      entry.RED.auth.needsPermission(`${param(req, "type")}.write`)(req as never, res as never, next);
    };
    app.post("/iot-bridge/test-connection/:type", permitted, (req: Req, res: Res) => {
      const entry = types.get(param(req, "type"));
      if (entry === undefined) {
        res.status(404).json({ ok: false, code: "unknown-type", message: `no connection test for "${param(req, "type")}"` });
        return;
      }
      if (running >= MAX_RUNNING_TESTS) {
        res.status(429).json({ ok: false, code: "busy", message: entry.RED._(`${param(req, "type")}.test.busy`) });
        return;
      }
      running++;
      void answer(entry, param(req, "type"), req.body)
        .finally(() => { running--; })
        .then((body) => { res.json(body); })
        // Only a broken translation or a gone response can get here: nothing to tell but a 500.
        .catch(() => {
          try {
            res.status(500).json({ ok: false, code: "failed", message: "the connection test failed" });
          } catch {
            // the response is gone
          }
        });
    });
  }
  registry.set(type, { RED, test });
}

/** Runs one test; never rejects (the editor always gets words). */
async function answer(entry: Registered, type: string, body: unknown): Promise<TestAnswer> {
  const { RED, test } = entry;
  const words: Words = (key, params) => RED._(`${type}.test.${key}`, params ?? {});
  const given = isObject(body) ? body : {};
  const id = typeof given.id === "string" ? given.id : "";
  const config = isObject(given.config) ? given.config : {};
  // Stored credentials only of a node of this type: the permission asked for is this type's.
  const stored = (RED.nodes.getNode(id) as { type?: unknown } | null)?.type === type ? id : "";
  const credentials = mergedCredentials(RED, stored, test.credentials, isObject(given.credentials) ? given.credentials : {});
  // Only secrets are masked, as a Redactor masks them (4 characters or more): a client id
  // "thingsboard" turned "Connected to ***.local".
  const redactor = new Redactor().add(...test.secrets.map((field) => credentials[field]));
  try {
    const result = await test.run({ id, config, credentials }, words);
    return { ...result, message: redactor.redact(result.message) };
  } catch (err) {
    if (err instanceof ConfigError) return { ok: false, code: "config", message: redactor.redact(words("config", { error: RED._(`${type}.errors.${err.key}`, err.params) })) };
    return { ok: false, code: "failed", message: redactor.redact(words("failed", { error: toError(err).message })) };
  }
}

/** The dialog's credentials; a field it left unchanged (`__PWRD__`) is the stored one of node `id` (if any); an empty or missing one is none. */
function mergedCredentials(RED: NodeAPI, id: string, fields: readonly string[], given: Record<string, unknown>): Record<string, string> {
  // getCredentials answers undefined for a node that has none (typed as always an object).
  const stored = (id === "" ? undefined : (RED.nodes.getCredentials(id) as Record<string, unknown> | undefined)) ?? {};
  const merged: Record<string, string> = {};
  for (const field of fields) {
    const value = given[field];
    const kept = stored[field];
    if (value === UNCHANGED) {
      if (typeof kept === "string" && kept !== "") merged[field] = kept;
    } else if (typeof value === "string" && value !== "") merged[field] = value;
  }
  return merged;
}

/** "host:port" of a server URL, with the scheme's default port when it names none. */
export function whereOf(url: string): string {
  const defaults: Record<string, number> = { "mqtt:": 1883, "mqtts:": 8883, "ws:": 80, "wss:": 443, "http:": 80, "https:": 443, "tcp:": 80, "tls:": 443 };
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port === "" ? String(defaults[u.protocol] ?? "") : u.port}`;
  } catch {
    return url;
  }
}

/**
 * A probe's outcome in words. `protocol` says how to name a refusal code (a CONNACK code, an HTTP
 * status, or Blynk's binary protocol's status).
 */
export function outcomeAnswer(outcome: ProbeOutcome, where: string, protocol: "mqtt" | "http" | "other", words: Words): TestAnswer {
  switch (outcome.kind) {
    case "connected":
      return { ok: true, code: "connected", message: words("connected", { where }) };
    case "refused": {
      const code = outcome.refusal;
      const detail = code === undefined ? outcome.reason : protocol === "mqtt" ? `MQTT ${reasonWords(code)}` : protocol === "http" ? `HTTP ${code}` : outcome.reason;
      return { ok: false, code: "refused", message: words("refused", { where, detail }) };
    }
    case "unreachable": {
      const host = where.replace(/:\d*$/, "");
      const key = outcome.cause === "other" ? "unreachable" : outcome.cause;
      // `seconds` too: an unreachable "timeout" is worded by the same key as the probe's own deadline.
      return { ok: false, code: key, message: words(key, { where, host, reason: outcome.reason, seconds: String(Math.round(TEST_TIMEOUT_MS / 1000)) }) };
    }
    case "timeout":
      return { ok: false, code: "timeout", message: words("timeout", { where, seconds: String(Math.round(TEST_TIMEOUT_MS / 1000)) }) };
  }
}

/** Who holds the credentials on the broker, as a platform's directory tells. */
export type HostedBy = { self: true } | { self: false; name: string } | undefined;

/**
 * Local mode: the chosen iot-broker is deployed and running with its listeners up (an engine is in
 * the registry once it started; one whose port is busy waits for it), and whether it knows these credentials already (this node hosts
 * them), will after a deploy, or another device holds them.
 */
export function localAnswer(RED: NodeAPI, brokerId: string, hostedBy: () => HostedBy, words: Words, fleet = false): TestAnswer {
  const brokerNode = RED.nodes.getNode(brokerId) as { name?: unknown; portsWaiting?: () => number } | null;
  if (brokerNode === null) return { ok: false, code: "broker-missing", message: words("broker-missing") };
  const broker = typeof brokerNode.name === "string" && brokerNode.name.trim() !== "" ? brokerNode.name.trim() : "iot-broker";
  // Not running, or running without its port (another program holds it: its status says "port busy").
  const waiting = typeof brokerNode.portsWaiting === "function" && brokerNode.portsWaiting() > 0;
  if (brokers.engine(brokerId) === undefined || waiting) return { ok: false, code: "broker-stopped", message: words("broker-stopped", { broker }) };
  if (fleet) return { ok: true, code: "fleet", message: words("fleet", { broker }) };
  const holder = hostedBy();
  if (holder === undefined) return { ok: true, code: "after-deploy", message: words("after-deploy", { broker }) };
  if (holder.self) return { ok: true, code: "hosted", message: words("hosted", { broker }) };
  return { ok: false, code: "taken", message: words("taken", { broker, other: holder.name }) };
}

/** A route parameter as text ("" when absent). */
function param(req: Req, name: string): string {
  const value = req.params[name];
  return typeof value === "string" ? value : "";
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
