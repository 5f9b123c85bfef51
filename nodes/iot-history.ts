import type { Node, NodeAPI, NodeDef, NodeMessageInFlow, NodeStatus } from "node-red";
import type { HistoryPoint } from "./lib/broker/device-history.js";
import { checkRange, historyCsv, HistoryRefusal, parseFormat, parseLimit, parseTime, type HistoryFormat } from "./lib/broker/history-read.js";
import type { BrokerEngine } from "./lib/broker/engine.js";
import { FleetError, fleetOf, memberId } from "./lib/broker/fleet.js";
import { brokers } from "./lib/broker/registry.js";
import { definitionOf, findDevice, keysOf, keyStreams, listKeys, nameOf, parsePlatform, type EachNode, type HistoryDevice, type NodeDefinition } from "./lib/node-red/history-devices.js";

interface IotHistoryDef extends NodeDef {
  /** "" (any), "blynk", "thingsboard" or "thingspeak": which platform's device a name names. */
  platform?: string;
  /** The id of a local-mode blynk-device, thingsboard-device or thingspeak-channel. */
  device?: string;
  key?: string;
  /** ThingsBoard gateways: the sub-device whose key it is. */
  subDevice?: string;
  /** A device config node hosting a fleet: the fleet device (name, {name} or {id}) whose history is read. */
  fleetDevice?: string;
  from?: string;
  to?: string;
  limit?: string | number;
  format?: string;
}

/** The settings a message may override, each by the msg property of the same name. */
const SETTINGS = ["platform", "device", "fleetDevice", "key", "subDevice", "from", "to", "limit", "format"] as const;
type Setting = (typeof SETTINGS)[number];

/** Reads one node runs at once; more are refused (a flood of requests must not pile up). */
const MAX_IN_FLIGHT = 8;
/** How long a read of the history may take before it is given up. */
const READ_TIMEOUT_MS = 30_000;
/** How long a read waits for a deployed broker that has no engine yet (it starts after a deploy or a restart of Node-RED). */
const BROKER_START_WAIT_MS = 5000;

/** The status shown after a refusal, by the refusal's key. */
const STATUS_OF: Record<string, string> = {
  "invalid-platform": "device",
  "unknown-platform-device": "device",
  "wrong-platform": "device",
  "no-device": "device",
  "invalid-device": "device",
  "unknown-device": "device",
  "ambiguous-device": "device",
  "not-a-device": "device",
  "not-local": "device",
  "no-broker": "device",
  "broker-missing": "broker",
  "broker-not-running": "broker",
  "no-key": "key",
  "invalid-key": "key",
  "invalid-field": "key",
  "unknown-key": "key",
  "no-keys-yet": "key",
  "invalid-sub-device": "key",
  "sub-device-not-thingsboard": "key",
  "fleet-no-device": "device",
  "fleet-unknown-device": "device",
};

/**
 * The device whose history is read: for a config node hosting a fleet (docs/ARCHITECTURE.md 3.8)
 * the fleet device `named` names (its history is kept under its hosted id), else the device itself.
 */
function historyDevice(device: HistoryDevice, named: unknown): HistoryDevice {
  if (device.def.hosting !== "fleet") return device;
  if (named === undefined || named === null || (typeof named === "string" && named.trim() === "")) throw new HistoryRefusal("fleet-no-device", { device: device.name });
  const fleet = fleetOf(device.id);
  try {
    if (fleet === undefined) throw new FleetError("unavailable", "the fleet is not running");
    const member = fleet.resolve(typeof named === "string" ? named.trim() : named);
    return { ...device, id: memberId(device.id, member.id), name: `${device.name} / ${member.name}` };
  } catch (err) {
    if (err instanceof FleetError) throw new HistoryRefusal("fleet-unknown-device", { device: device.name, error: err.message });
    throw err;
  }
}

/** What a read found, for msg.history. */
interface ReadDetails {
  /** The device's platform: "blynk", "thingsboard" or "thingspeak". */
  platform: string;
  device: string;
  name: string;
  key: string;
  subDevice?: string;
  stream: string | null;
  from: number | null;
  to: number | null;
  limit: number;
  count: number;
  /** The limit was reached: older points of the range may exist. */
  limited: boolean;
  format: HistoryFormat;
}

/** Rejects with a "timeout" refusal when `work` takes longer than READ_TIMEOUT_MS. */
function inTime<T>(work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new HistoryRefusal("timeout", { seconds: String(READ_TIMEOUT_MS / 1000) }));
    }, READ_TIMEOUT_MS);
    timer.unref();
  });
  return Promise.race([work, late]).finally(() => {
    clearTimeout(timer);
  });
}

export = function (RED: NodeAPI): void {
  const eachNode: EachNode = (visit) => {
    RED.nodes.eachNode((def) => {
      visit(def as unknown as NodeDefinition);
    });
  };

  /** A refusal in the words of this node's catalog. */
  const words = (refusal: HistoryRefusal): string => RED._(`iot-history.errors.${refusal.key}`, refusal.params);

  /**
   * The engine of a device's broker, or a refusal naming the broker. A deployed broker without
   * an engine is starting (or failed to): the read waits up to BROKER_START_WAIT_MS for it, so a
   * read right after a deploy or a restart of Node-RED is answered rather than refused.
   */
  function engineOf(device: HistoryDevice): Promise<BrokerEngine> {
    const engine = brokers.engine(device.broker);
    if (engine !== undefined) return Promise.resolve(engine);
    const def = definitionOf(eachNode, device.broker);
    if (def?.type !== "iot-broker") return Promise.reject(new HistoryRefusal("broker-missing", { device: device.name }));
    const notRunning = new HistoryRefusal("broker-not-running", { device: device.name, broker: nameOf(def) });
    // A disabled broker (or one on a disabled flow) has no node: it does not start.
    // getNode answers null for a node that is not running (its types say otherwise).
    if ((RED.nodes.getNode(device.broker) as Node | null) === null) return Promise.reject(notRunning);
    return new Promise((resolve, reject) => {
      let settled = false;
      const finish = (started: BrokerEngine | undefined): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        // Not from inside the registry's call of the setup (nor before use() returned it).
        queueMicrotask(() => {
          unregister();
        });
        if (started === undefined) reject(notRunning);
        else resolve(started);
      };
      const timer = setTimeout(() => {
        finish(undefined);
      }, BROKER_START_WAIT_MS);
      timer.unref();
      const unregister = brokers.use(
        device.broker,
        (started) => {
          finish(started);
          return undefined;
        },
        () => {
          // The setup above cannot throw.
        },
      );
    });
  }

  /** Reads what `settings` ask for: the payload in the format asked for, and the details. */
  async function read(settings: Record<Setting, unknown>): Promise<{ payload: HistoryPoint[] | string; details: ReadDetails }> {
    const device = historyDevice(findDevice(eachNode, settings.device, parsePlatform(settings.platform)), settings.fleetDevice);
    const now = Date.now();
    const from = parseTime(settings.from, "from", now);
    const to = parseTime(settings.to, "to", now);
    checkRange(from, to);
    const limit = parseLimit(settings.limit);
    const format = parseFormat(settings.format);
    const wanted = keyStreams(device, settings.key, settings.subDevice);
    const history = (await engineOf(device)).history;
    const failed = (err: unknown): never => {
      if (err instanceof HistoryRefusal) throw err;
      throw new HistoryRefusal("history-failed", { device: device.name, error: err instanceof Error ? err.message : String(err) });
    };
    const streams = await inTime(history.streams(device.plugin, device.id)).catch(failed);
    // "Unknown key" and "no points yet" look alike in a history: a key is known once it has had a point.
    const stream = wanted.candidates.find((s) => streams.includes(s));
    if (stream === undefined && !wanted.alwaysKnown) {
      const known = listKeys(keysOf(device.plugin, streams));
      throw known === "" ? new HistoryRefusal("no-keys-yet", { device: device.name, key: wanted.key }) : new HistoryRefusal("unknown-key", { device: device.name, key: wanted.key, known });
    }
    const points =
      stream === undefined
        ? []
        : await inTime(history.query(device.plugin, device.id, stream, { ...(from === undefined ? {} : { from }), ...(to === undefined ? {} : { to }), limit, latest: true })).catch(failed);
    const sub = typeof settings.subDevice === "string" ? settings.subDevice.trim() : "";
    const details: ReadDetails = {
      platform: device.plugin,
      device: device.id,
      name: device.name,
      key: wanted.key,
      ...(sub === "" ? {} : { subDevice: sub }),
      stream: stream ?? null,
      from: from ?? null,
      to: to ?? null,
      limit,
      count: points.length,
      limited: points.length >= limit,
      format,
    };
    return { payload: format === "csv" ? historyCsv(points) : points.map((p) => ({ ts: p.ts, value: p.value })), details };
  }

  function IotHistoryNode(this: Node, config: IotHistoryDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    let inFlight = 0;

    const setting = (name: Setting): unknown => config[name];
    const show = (status: NodeStatus): void => {
      node.status(status);
    };
    const refused = (refusal: HistoryRefusal): void => {
      show({ fill: "red", shape: "ring", text: `iot-history.status.${STATUS_OF[refusal.key] ?? "request"}` });
    };

    // The settings are checked once at the start (a message may still override what is wrong).
    try {
      const platform = parsePlatform(config.platform);
      if (typeof config.device === "string" && config.device.trim() !== "") {
        const device = findDevice(eachNode, config.device, platform);
        if (typeof config.key === "string" && config.key.trim() !== "") keyStreams(device, config.key, config.subDevice);
      }
      const now = Date.now();
      checkRange(parseTime(config.from, "from", now), parseTime(config.to, "to", now));
      parseLimit(config.limit);
      parseFormat(config.format);
    } catch (err) {
      if (err instanceof HistoryRefusal) {
        node.error(words(err));
        refused(err);
      }
    }

    node.on("input", (msg: NodeMessageInFlow, send, done) => {
      if (inFlight >= MAX_IN_FLIGHT) {
        done(new Error(words(new HistoryRefusal("busy", { count: String(MAX_IN_FLIGHT) }))));
        return;
      }
      const fields = msg as unknown as Record<string, unknown>;
      const settings = Object.fromEntries(SETTINGS.map((name) => [name, fields[name] ?? setting(name)])) as Record<Setting, unknown>;
      inFlight++;
      read(settings).then(
        ({ payload, details }) => {
          inFlight--;
          const one = details.count === 1;
          const text = details.limited ? (one ? "iot-history.status.point-limited" : "iot-history.status.points-limited") : one ? "iot-history.status.point" : "iot-history.status.points";
          show({ fill: "green", shape: "dot", text: RED._(text, { count: String(details.count) }) });
          send({ ...msg, topic: details.key, payload, history: details });
          done();
        },
        (err: unknown) => {
          inFlight--;
          if (err instanceof HistoryRefusal) {
            refused(err);
            done(new Error(words(err)));
            return;
          }
          show({ fill: "red", shape: "ring", text: "iot-history.status.failed" });
          done(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  }

  RED.nodes.registerType("iot-history", IotHistoryNode);
  registerKeyList(RED, eachNode);
};

/**
 * GET ?device=<config node id> -> {running, keys: [{key, subDevice?}]}: the keys the deployed
 * device has history of, for the editor's Key field (the history is read only while its broker runs).
 */
function registerKeyList(RED: NodeAPI, eachNode: EachNode): void {
  RED.httpAdmin.get("/iot-history/keys", RED.auth.needsPermission("iot-history.read"), (req, res) => {
    res.set("Cache-Control", "no-store");
    const query = req.query as Record<string, unknown>;
    let device: HistoryDevice;
    try {
      device = findDevice(eachNode, query.device);
      if (device.def.hosting === "fleet") device = historyDevice(device, query.fleetDevice);
    } catch (err) {
      res.status(404).json({ error: err instanceof HistoryRefusal ? RED._(`iot-history.errors.${err.key}`, err.params) : "unknown device" });
      return;
    }
    const engine = brokers.engine(device.broker);
    if (engine === undefined) {
      res.json({ running: false, keys: [] });
      return;
    }
    inTime(engine.history.streams(device.plugin, device.id)).then(
      (streams) => res.json({ running: true, keys: keysOf(device.plugin, streams) }),
      (err: unknown) => {
        res.status(500).json({ error: err instanceof Error ? err.message : "reading the history failed" });
      },
    );
  });
}
