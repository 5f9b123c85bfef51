import type { NodeAPI, NodeDef, NodeMessage } from "node-red";
import { toError } from "./lib/transport/errors.js";
import { assertDatastreamName, decodeValue } from "./lib/blynk/codec.js";
import { parsePin } from "./lib/blynk/http-codec.js";
import type { BlynkIncoming, BlynkLink } from "./lib/blynk/link.js";
import { blynkDevice } from "./lib/node-red/config-kinds.js";
import { registerFlowNode } from "./lib/node-red/flow-node.js";
import { FIXED_NAME_KINDS, nameSetting } from "./lib/node-red/typed-setting.js";
import { onFlowsStarted } from "./lib/node-red/flows-started.js";

interface BlynkDeviceInDef extends NodeDef {
  datastream?: string;
  raw?: boolean;
  sync?: boolean;
  system?: boolean;
  /** Seconds between reads, https mode only; "" = none. */
  interval?: string | number;
}

export = function (RED: NodeAPI): void {
  registerFlowNode(RED, "blynk-device-in", blynkDevice, (flow, config: BlynkDeviceInDef) => {
    const { node } = flow;
    const raw = config.raw === true;
    const syncOnConnect = config.sync !== false;
    const system = config.system === true;
    // A filter of what arrives (no message to read it from): typed or an env variable, read once.
    const datastreamSetting = nameSetting(RED, flow, "blynk-device-in", config, "datastream", "datastream", FIXED_NAME_KINDS);
    let datastream = datastreamSetting.fixed;
    let timer: NodeJS.Timeout | undefined;
    let lastReadError: string | undefined;

    /** The message for one incoming item, or undefined when this node does not emit it. */
    const toMessage = (m: BlynkIncoming, base: NodeMessage = {}): NodeMessage | undefined => {
      const name = flow.handle?.deviceName ?? "";
      if (m.kind === "value") {
        if (datastream !== "" && m.datastream !== datastream) return undefined;
        const payload = m.erase === true ? null : raw ? decodeValue(m.text, { raw: true }) : m.value;
        const blynk: Record<string, unknown> = { device: m.device ?? name, datastream: m.datastream, raw: m.text, source: m.source };
        for (const key of ["property", "erase", "timestamp", "batch", "sync"] as const) if (m[key] !== undefined) blynk[key] = m[key];
        return { ...base, topic: m.datastream, payload, blynk };
      }
      if (m.kind === "system" && system) {
        return { ...base, topic: m.topic, payload: m.value, blynk: { ...m.details, device: m.device ?? name, system: m.topic.slice("$system/".length), source: m.source } };
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

    let flowsStarted = false;
    let syncPending = false;
    const sync = (): void => {
      const link = flow.link;
      if (!syncOnConnect || link === undefined) return;
      link.sync({ ...(datastream === "" ? {} : { datastreams: [datastream] }), system }).then(emit, (err: unknown) => {
        node.warn(RED._("blynk-device-in.warnings.sync-failed", { error: toError(err).message }));
      });
    };
    const whenFlowsStarted = (): void => {
      flowsStarted = true;
      if (!syncPending) return;
      syncPending = false;
      sync();
    };
    const stopWaiting = onFlowsStarted(RED, whenFlowsStarted, true);

    const link = flow.connect({
      settings: () => datastreamSetting.problem,
      check: (device) => {
        // https mode reads pins (v1); the other modes name datastreams.
        if (datastream === "") return undefined;
        try {
          if (device.connection === "https") datastream = parsePin(datastream);
          else assertDatastreamName(datastream);
          return undefined;
        } catch (err) {
          return flow.refuse("invalid-datastream", { error: toError(err).message });
        }
      },
      incoming: (m) => { emit([m]); },
      ready: () => {
        // Messages sent before the flows have started could reach nodes not created yet.
        if (flowsStarted) sync();
        else syncPending = true;
      },
    });
    const read = (from: BlynkLink): Promise<BlynkIncoming[]> => from.read(datastream === "" ? undefined : [datastream]);

    const interval = String(config.interval ?? "").trim();
    if (interval !== "" && link?.connection === "https") {
      const seconds = Number(interval);
      if (!Number.isFinite(seconds) || seconds < 1 || seconds > 86_400 * 24) {
        node.error(flow.refuse("invalid-interval", { value: interval }).message);
      } else {
        timer = setInterval(() => {
          read(link).then(
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

    flow.onInput((msg, send, from) => {
      // Only https mode reads on demand; in the other modes values arrive by themselves.
      if (from.connection !== "https") return undefined;
      return read(from).then((list) => {
        // One copy of the input per value, so later nodes can change each independently.
        const msgs = list.flatMap((m): NodeMessage[] => {
          const out = toMessage(m, RED.util.cloneMessage(msg));
          return out === undefined ? [] : [out];
        });
        if (msgs.length > 0) send([msgs]);
      });
    }, { other: "read-failed" });

    flow.onClose(() => {
      clearInterval(timer);
      stopWaiting();
    });
  });
};
