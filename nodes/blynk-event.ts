import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { TransportError } from "./lib/transport/errors.js";
import { describeValue } from "./lib/transport/value-codec.js";
import { deviceHandleOf, useLink, type LinkUse, type StatusView } from "./lib/blynk/link-user.js";

interface BlynkEventDef extends NodeDef {
  device?: string;
  event?: string;
}

/** The status texts all Blynk nodes share live in the blynk-device catalog. */
const STATUS = "@iot-bridge/node-red/blynk-device:blynk-device.status.";

export = function (RED: NodeAPI): void {
  function BlynkEventNode(this: Node, config: BlynkEventDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const fixed = typeof config.event === "string" ? config.event.trim() : "";
    const device = deviceHandleOf(RED.nodes.getNode(config.device ?? ""));

    const show = (view: StatusView | undefined): void => {
      if (view === undefined) node.status({});
      else node.status({ fill: view.fill, shape: view.shape, text: view.params === undefined ? STATUS + view.key : RED._(STATUS + view.key, view.params) });
    };
    const refuse = (key: string, params: Record<string, string> = {}): Error => new Error(RED._(`blynk-event.errors.${key}`, params));

    let use: LinkUse | undefined;
    let unusable: Error | undefined;
    if (device === undefined) {
      unusable = refuse("no-device");
      show({ fill: "red", shape: "ring", key: "no-device" });
    } else {
      use = useLink(device, node.id, {
        status: show,
        // local mode: the events hosted devices log come out of the output.
        incoming: (m) => {
          if (m.kind !== "event" || (fixed !== "" && m.code !== fixed)) return;
          node.send({ topic: m.code, payload: m.description, blynk: { device: device.deviceName, event: m.code, source: m.source } });
        },
        failed: (err) => { node.warn(err.message); },
      });
      if (use === undefined) {
        unusable = refuse("device-invalid", { error: RED._(`@iot-bridge/node-red/blynk-device:blynk-device.errors.${device.problem?.key ?? "invalid-config"}`, device.problem?.params ?? {}) });
        show({ fill: "red", shape: "ring", key: "config-error" });
      }
    }
    if (unusable !== undefined) node.error(unusable.message);

    async function log(msg: NodeMessageInFlow): Promise<void> {
      if (use === undefined) throw unusable ?? refuse("no-device");
      const link = use.link;
      if (link.connection === "local") throw refuse("local-input");
      const code = fixed !== "" ? fixed : msg.topic;
      if (typeof code !== "string" || code.trim() === "") throw refuse("no-event", { got: describeValue(msg.topic) });
      const payload = msg.payload;
      let description: string;
      if (payload === undefined || payload === null) description = "";
      else if (typeof payload === "string") description = payload;
      else if ((typeof payload === "number" && Number.isFinite(payload)) || typeof payload === "boolean") description = String(payload);
      else throw refuse("invalid-description", { got: describeValue(payload) });
      const receipt = await link.logEvent(code, description, {
        onDelay: (ms) => {
          node.warn(RED._("blynk-event.warnings.delayed", { code, ms: String(ms) }));
        },
      });
      if (receipt.today > receipt.dailyLimit) {
        node.warn(RED._("blynk-event.warnings.daily-limit", { count: String(receipt.today), limit: String(receipt.dailyLimit) }));
      }
    }

    node.on("input", (msg: NodeMessageInFlow, _send, done) => {
      log(msg).then(
        () => { done(); },
        (err: unknown) => {
          if (err instanceof TransportError) {
            const key = err.code === "invalid" || err.code === "too-large" ? "invalid" : "not-sent";
            done(new Error(RED._(`blynk-event.errors.${key}`, { error: err.message }), { cause: err }));
          } else {
            done(err instanceof Error ? err : new Error(String(err)));
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

  RED.nodes.registerType("blynk-event", BlynkEventNode);
};
