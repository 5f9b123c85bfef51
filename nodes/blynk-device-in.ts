import type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from "node-red";
import { TransportError, toError } from "./lib/transport/errors.js";
import { assertDatastreamName, decodeValue } from "./lib/blynk/codec.js";
import { parsePin } from "./lib/blynk/http-codec.js";
import type { BlynkIncoming } from "./lib/blynk/link.js";
import { deviceHandleOf, useLink, type LinkUse, type StatusView } from "./lib/blynk/link-user.js";

interface BlynkDeviceInDef extends NodeDef {
  device?: string;
  datastream?: string;
  raw?: boolean;
  sync?: boolean;
  system?: boolean;
  /** Seconds between reads, https mode only; "" = none. */
  interval?: string | number;
}

/** The status texts all Blynk nodes share live in the blynk-device catalog. */
const STATUS = "@iot-bridge/node-red/blynk-device:blynk-device.status.";

export = function (RED: NodeAPI): void {
  function BlynkDeviceInNode(this: Node, config: BlynkDeviceInDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const raw = config.raw === true;
    const syncOnConnect = config.sync !== false;
    const system = config.system === true;
    const device = deviceHandleOf(RED.nodes.getNode(config.device ?? ""));
    let datastream = typeof config.datastream === "string" ? config.datastream.trim() : "";
    let timer: NodeJS.Timeout | undefined;
    let lastReadError: string | undefined;

    const show = (view: StatusView | undefined): void => {
      if (view === undefined) node.status({});
      else node.status({ fill: view.fill, shape: view.shape, text: view.params === undefined ? STATUS + view.key : RED._(STATUS + view.key, view.params) });
    };
    const fail = (key: string, params: Record<string, string> = {}): Error => new Error(RED._(`blynk-device-in.errors.${key}`, params));

    /** The message for one incoming item, or undefined when this node does not emit it. */
    const toMessage = (m: BlynkIncoming, base: NodeMessage = {}): NodeMessage | undefined => {
      const name = device?.deviceName ?? "";
      if (m.kind === "value") {
        if (datastream !== "" && m.datastream !== datastream) return undefined;
        const payload = m.erase === true ? null : raw ? decodeValue(m.text, { raw: true }) : m.value;
        const blynk: Record<string, unknown> = { device: name, datastream: m.datastream, raw: m.text, source: m.source };
        for (const key of ["property", "erase", "timestamp", "batch", "sync"] as const) if (m[key] !== undefined) blynk[key] = m[key];
        return { ...base, topic: m.datastream, payload, blynk };
      }
      if (m.kind === "system" && system) {
        return { ...base, topic: m.topic, payload: m.value, blynk: { ...m.details, device: name, system: m.topic.slice("$system/".length), source: m.source } };
      }
      return undefined;
    };
    const emit = (list: BlynkIncoming[]): void => {
      const msgs = list.flatMap((m): NodeMessage[] => {
        const msg = toMessage(m);
        return msg === undefined ? [] : [msg];
      });
      if (msgs.length > 0) node.send([msgs]);
    };

    let use: LinkUse | undefined;
    let flowsStarted = false;
    let syncPending = false;
    const sync = (): void => {
      if (!syncOnConnect || use === undefined) return;
      use.link.sync({ ...(datastream === "" ? {} : { datastreams: [datastream] }), system }).then(emit, (err: unknown) => {
        node.warn(RED._("blynk-device-in.warnings.sync-failed", { error: toError(err).message }));
      });
    };
    const onFlowsStarted = (): void => {
      flowsStarted = true;
      if (!syncPending) return;
      syncPending = false;
      sync();
    };
    RED.events.once("flows:started", onFlowsStarted);

    let unusable: Error | undefined;
    if (device === undefined) {
      unusable = fail("no-device");
      show({ fill: "red", shape: "ring", key: "no-device" });
    } else if (device.problem !== undefined) {
      unusable = fail("device-invalid", { error: RED._(`@iot-bridge/node-red/blynk-device:blynk-device.errors.${device.problem.key}`, device.problem.params) });
      show({ fill: "red", shape: "ring", key: "config-error" });
    } else {
      try {
        // https mode reads pins (v1); the other modes name datastreams.
        if (datastream !== "") {
          if (device.connection === "https") datastream = parsePin(datastream);
          else assertDatastreamName(datastream);
        }
      } catch (err) {
        unusable = fail("invalid-datastream", { error: toError(err).message });
        show({ fill: "red", shape: "ring", key: "config-error" });
      }
    }
    if (device !== undefined && unusable === undefined) {
      use = useLink(device, node.id, {
        status: show,
        incoming: (m) => { emit([m]); },
        ready: () => {
          // Messages sent before the flows have started could reach nodes not created yet.
          if (flowsStarted) sync();
          else syncPending = true;
        },
        failed: (err) => { node.warn(err.message); },
      });
      if (use === undefined) {
        unusable = fail("device-invalid", { error: RED._(`@iot-bridge/node-red/blynk-device:blynk-device.errors.${device.problem?.key ?? "invalid-config"}`, device.problem?.params ?? {}) });
        show({ fill: "red", shape: "ring", key: "config-error" });
      }
    }
    if (unusable !== undefined) node.error(unusable.message);

    const read = async (): Promise<BlynkIncoming[]> => {
      if (use === undefined) throw unusable ?? fail("no-device");
      return use.link.read(datastream === "" ? undefined : [datastream]);
    };

    const interval = String(config.interval ?? "").trim();
    if (interval !== "" && use?.link.connection === "https") {
      const seconds = Number(interval);
      if (!Number.isFinite(seconds) || seconds < 1 || seconds > 86_400 * 24) {
        node.error(RED._("blynk-device-in.errors.invalid-interval", { value: interval }));
      } else {
        timer = setInterval(() => {
          read().then(
            (list) => {
              lastReadError = undefined;
              emit(list);
            },
            (err: unknown) => {
              // Once per distinct problem: the status shows it is ongoing.
              const text = toError(err).message;
              if (text !== lastReadError) node.warn(RED._("blynk-device-in.warnings.read-failed", { error: text }));
              lastReadError = text;
            },
          );
        }, seconds * 1000);
      }
    }

    node.on("input", (msg: NodeMessageInFlow, send, done) => {
      if (unusable !== undefined) {
        done(unusable);
        return;
      }
      // Only https mode reads on demand; in the other modes values arrive by themselves.
      if (use?.link.connection !== "https") {
        done();
        return;
      }
      read().then(
        (list) => {
          // One copy of the input per value, so later nodes can change each independently.
          const msgs = list.flatMap((m): NodeMessage[] => {
            const out = toMessage(m, RED.util.cloneMessage(msg));
            return out === undefined ? [] : [out];
          });
          if (msgs.length > 0) send([msgs]);
          done();
        },
        (err: unknown) => {
          if (err instanceof TransportError) done(new Error(RED._("blynk-device-in.errors.read-failed", { error: err.message }), { cause: err }));
          else done(toError(err));
        },
      );
    });

    node.on("close", (removed: boolean, done: () => void) => {
      clearInterval(timer);
      RED.events.removeListener("flows:started", onFlowsStarted);
      const finish = (): void => {
        node.status({});
        done();
      };
      void (use === undefined ? Promise.resolve() : use.release(removed)).catch(() => undefined).finally(finish);
    });
  }

  RED.nodes.registerType("blynk-device-in", BlynkDeviceInNode);
};
