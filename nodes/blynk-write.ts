import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { TransportError } from "./lib/transport/errors.js";
import { describeValue } from "./lib/transport/value-codec.js";
import { deviceHandleOf, useLink, type LinkUse, type StatusView } from "./lib/blynk/link-user.js";

interface BlynkWriteDef extends NodeDef {
  device?: string;
  datastream?: string;
}

/** The status texts all Blynk nodes share live in the blynk-device catalog. */
const STATUS = "@iot-bridge/node-red/blynk-device:blynk-device.status.";

export = function (RED: NodeAPI): void {
  function BlynkWriteNode(this: Node, config: BlynkWriteDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const fixed = typeof config.datastream === "string" ? config.datastream.trim() : "";
    const device = deviceHandleOf(RED.nodes.getNode(config.device ?? ""));

    const show = (view: StatusView | undefined): void => {
      if (view === undefined) node.status({});
      else node.status({ fill: view.fill, shape: view.shape, text: view.params === undefined ? STATUS + view.key : RED._(STATUS + view.key, view.params) });
    };
    const refuse = (key: string, params: Record<string, string> = {}): Error => new Error(RED._(`blynk-write.errors.${key}`, params));

    let use: LinkUse | undefined;
    let unusable: Error | undefined;
    if (device === undefined) {
      unusable = refuse("no-device");
      show({ fill: "red", shape: "ring", key: "no-device" });
    } else {
      use = useLink(device, node.id, {
        status: show,
        failed: (err) => { node.warn(err.message); },
      });
      if (use === undefined) {
        unusable = refuse("device-invalid", { error: RED._(`@iot-bridge/node-red/blynk-device:blynk-device.errors.${device.problem?.key ?? "invalid-config"}`, device.problem?.params ?? {}) });
        show({ fill: "red", shape: "ring", key: "config-error" });
      }
    }
    if (unusable !== undefined) node.error(unusable.message);

    /**
     * Plans and sends one message; every refusal happens before anything is sent. Not async:
     * refusals throw, the link's promise is returned as it is (no extra promise layer per write).
     */
    function write(msg: NodeMessageInFlow): Promise<void> {
      if (use === undefined) throw unusable ?? refuse("no-device");
      const link = use.link;
      const mode = link.connection;
      const options: Record<string, unknown> = isObject(msg.blynk) ? msg.blynk : {};
      const property = options.property;
      const erase = options.erase === true;
      const payload = msg.payload;
      const timestamp = (msg as { timestamp?: unknown }).timestamp;

      if (isObject(payload) && property === undefined && !erase) {
        if (fixed !== "") throw refuse("object-with-datastream", { datastream: fixed });
        if (timestamp !== undefined) throw refuse("batch-timestamp");
        return link.writeBatch(payload);
      }
      const datastream = fixed !== "" ? fixed : msg.topic;
      if (typeof datastream !== "string" || datastream.trim() === "") throw refuse("no-datastream", { got: describeValue(msg.topic) });
      if (property !== undefined) {
        if (typeof property !== "string" || property === "") throw refuse("invalid-property", { got: describeValue(property) });
        if (mode === "local") throw refuse("local-property");
        if (erase) return link.erase(datastream, property);
        checkValue(payload);
        return link.setProperty(datastream, property, payload);
      }
      if (erase) {
        if (mode !== "mqtt") throw refuse(`${mode}-erase`);
        return link.erase(datastream);
      }
      if (Array.isArray(payload) && payload.length > 0 && payload.every((p) => Array.isArray(p))) {
        if (mode === "local") throw refuse("local-timestamped");
        return link.writeTimestamped(datastream, payload);
      }
      checkValue(payload);
      if (timestamp !== undefined) {
        if (mode === "local") throw refuse("local-timestamped");
        return link.write(datastream, payload, { timestamp });
      }
      return link.write(datastream, payload);
    }

    function checkValue(payload: unknown): void {
      if (payload === undefined || payload === null || payload === "") throw refuse("empty", { got: describeValue(payload) });
    }

    node.on("input", (msg: NodeMessageInFlow, _send, done) => {
      let sent: Promise<void>;
      try {
        sent = write(msg);
      } catch (err) {
        sent = Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
      sent.then(
        () => { done(); },
        (err: unknown) => {
          // Our own refusals are already in words; the link's say what it found, prefixed here.
          if (err instanceof TransportError) {
            const key = err.code === "invalid" || err.code === "too-large" ? "invalid" : "not-sent";
            done(new Error(RED._(`blynk-write.errors.${key}`, { error: err.message }), { cause: err }));
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

  RED.nodes.registerType("blynk-write", BlynkWriteNode);
};

function isObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value) || Buffer.isBuffer(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
