import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { isPlainObject } from "./lib/thingsboard/codec.js";
import { deviceHandleOf, useLink, type LinkUse, type StatusView } from "./lib/thingsboard/link-user.js";
import { TransportError, toError } from "./lib/transport/errors.js";
import { describeValue } from "./lib/transport/value-codec.js";

interface TbTelemetryDef extends NodeDef {
  device?: string;
  subDevice?: string;
}

/** The status and error texts all ThingsBoard nodes share live in the thingsboard-device catalog. */
const DEVICE = "@iot-bridge/node-red/thingsboard-device:thingsboard-device.";

export = function (RED: NodeAPI): void {
  function ThingsBoardTelemetryNode(this: Node, config: TbTelemetryDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const subDevice = typeof config.subDevice === "string" ? config.subDevice.trim() : "";
    const device = deviceHandleOf(RED.nodes.getNode(config.device ?? ""));

    const show = (view: StatusView | undefined): void => {
      if (view === undefined) node.status({});
      else node.status({ fill: view.fill, shape: view.shape, text: view.params === undefined ? `${DEVICE}status.${view.key}` : RED._(`${DEVICE}status.${view.key}`, view.params) });
    };
    const refuse = (key: string, params: Record<string, string> = {}): Error => new Error(RED._(`thingsboard-telemetry.errors.${key}`, params));

    let use: LinkUse | undefined;
    let unusable: Error | undefined;
    if (device === undefined) {
      unusable = refuse("no-device");
      show({ fill: "red", shape: "ring", key: "no-device" });
    } else {
      use = useLink(device, node.id, {
        status: show,
        incoming: (m) => {
          // Local mode only: telemetry the hosted devices send.
          if (m.kind !== "telemetry") return;
          node.send({ topic: m.device, payload: m.values, thingsboard: { device: m.device, ts: m.ts, ...(m.subDevice ? { subDevice: true } : {}) } });
        },
        failed: (err) => { node.warn(err.message); },
      });
      if (use === undefined) {
        unusable = refuse("device-invalid", { error: RED._(`${DEVICE}errors.${device.problem?.key ?? "invalid-config"}`, device.problem?.params ?? {}) });
        show({ fill: "red", shape: "ring", key: "config-error" });
      }
    }
    if (unusable !== undefined) node.error(unusable.message);

    /** The telemetry of one message, in any documented form; refusals before anything is sent. */
    function telemetryOf(msg: NodeMessageInFlow): unknown {
      const payload = msg.payload;
      const timestamp = (msg as { timestamp?: unknown }).timestamp;
      let telemetry: unknown;
      if (isPlainObject(payload) || Array.isArray(payload)) {
        telemetry = payload;
      } else {
        const key = msg.topic;
        if (typeof key !== "string" || key.trim() === "") throw refuse("no-key", { got: describeValue(key) });
        if (payload === undefined || payload === null) throw refuse("empty", { got: describeValue(payload) });
        telemetry = { [key.trim()]: payload };
      }
      if (timestamp === undefined) return telemetry;
      if (!isPlainObject(telemetry) || "ts" in telemetry || "values" in telemetry) throw refuse("timestamp-conflict");
      return { ts: timestamp, values: telemetry };
    }

    async function send(msg: NodeMessageInFlow): Promise<void> {
      if (use === undefined) throw unusable ?? refuse("no-device");
      if (use.link.connection === "local") throw refuse("local-input");
      const named: unknown = isPlainObject(msg.thingsboard) ? msg.thingsboard.device : undefined;
      if (named !== undefined && (typeof named !== "string" || named.trim() === "")) throw refuse("invalid-sub-device", { got: describeValue(named) });
      const target = named ?? (use.link.gateway && subDevice !== "" ? subDevice : undefined);
      await use.link.sendTelemetry(telemetryOf(msg), target === undefined ? {} : { device: target });
    }

    node.on("input", (msg: NodeMessageInFlow, _send, done) => {
      send(msg).then(
        () => { done(); },
        (err: unknown) => {
          // Our own refusals are in words already; the link's say what it found, prefixed here.
          if (err instanceof TransportError) {
            const key = err.code === "invalid" || err.code === "too-large" ? "invalid" : "not-sent";
            done(new Error(RED._(`thingsboard-telemetry.errors.${key}`, { error: err.message }), { cause: err }));
          } else {
            done(toError(err));
          }
        },
      );
    });

    node.on("close", (removed: boolean, done: () => void) => {
      const finish = (): void => {
        node.status({});
        done();
      };
      void (use === undefined ? Promise.resolve() : use.release(removed)).catch(() => undefined).finally(finish);
    });
  }

  RED.nodes.registerType("thingsboard-telemetry", ThingsBoardTelemetryNode);
};
