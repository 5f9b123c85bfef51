import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { isPlainObject } from "./lib/thingsboard/codec.js";
import { deviceHandleOf, useLink, type LinkUse, type StatusView } from "./lib/thingsboard/link-user.js";
import { TransportError, toError } from "./lib/transport/errors.js";
import { describeValue } from "./lib/transport/value-codec.js";

interface TbAttributesDef extends NodeDef {
  device?: string;
  subDevice?: string;
  /** ms an attribute request waits for its response. */
  timeout?: string | number;
}

/** The status and error texts all ThingsBoard nodes share live in the thingsboard-device catalog. */
const DEVICE = "@iot-bridge/node-red/thingsboard-device:thingsboard-device.";
const DEFAULT_TIMEOUT_MS = 10_000;
const MAX_TIMEOUT_MS = 0x7fff_ffff;

export = function (RED: NodeAPI): void {
  function ThingsBoardAttributesNode(this: Node, config: TbAttributesDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const subDevice = typeof config.subDevice === "string" ? config.subDevice.trim() : "";
    const device = deviceHandleOf(RED.nodes.getNode(config.device ?? ""));

    const show = (view: StatusView | undefined): void => {
      if (view === undefined) node.status({});
      else node.status({ fill: view.fill, shape: view.shape, text: view.params === undefined ? `${DEVICE}status.${view.key}` : RED._(`${DEVICE}status.${view.key}`, view.params) });
    };
    const refuse = (key: string, params: Record<string, string> = {}): Error => new Error(RED._(`thingsboard-attributes.errors.${key}`, params));

    let use: LinkUse | undefined;
    let unusable: Error | undefined;
    const timeoutText = String(config.timeout ?? "").trim();
    const timeoutMs = timeoutText === "" ? DEFAULT_TIMEOUT_MS : Number(timeoutText);
    if (device === undefined) {
      unusable = refuse("no-device");
      show({ fill: "red", shape: "ring", key: "no-device" });
    } else if (!Number.isInteger(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_TIMEOUT_MS) {
      unusable = refuse("invalid-timeout", { value: timeoutText });
      show({ fill: "red", shape: "ring", key: "config-error" });
    } else {
      use = useLink(device, node.id, {
        status: show,
        incoming: (m) => {
          if (m.kind !== "attributes") return;
          const details = { device: m.device, scope: m.scope, ...(m.deleted.length > 0 ? { deleted: m.deleted } : {}), ...(m.subDevice ? { subDevice: true } : {}) };
          node.send({ topic: m.device, payload: m.values, thingsboard: details });
        },
        failed: (err) => { node.warn(err.message); },
      });
      if (use === undefined) {
        unusable = refuse("device-invalid", { error: RED._(`${DEVICE}errors.${device.problem?.key ?? "invalid-config"}`, device.problem?.params ?? {}) });
        show({ fill: "red", shape: "ring", key: "config-error" });
      }
    }
    if (unusable !== undefined) node.error(unusable.message);

    /** The sub-device a message is for (gateway), or undefined for the device itself. */
    function targetOf(details: Record<string, unknown>, gateway: boolean): string | undefined {
      const named = details.device;
      if (named !== undefined && (typeof named !== "string" || named.trim() === "")) throw refuse("invalid-sub-device", { got: describeValue(named) });
      return named ?? (gateway && subDevice !== "" ? subDevice : undefined);
    }

    async function handle(msg: NodeMessageInFlow): Promise<unknown> {
      if (use === undefined) throw unusable ?? refuse("no-device");
      const link = use.link;
      const details: Record<string, unknown> = isPlainObject(msg.thingsboard) ? msg.thingsboard : {};
      const target = targetOf(details, link.gateway);
      const request = details.request;
      if (request !== undefined && request !== false) {
        if (request !== true && !isPlainObject(request)) throw refuse("invalid-request", { got: describeValue(request) });
        const keys = request === true ? {} : { clientKeys: request.clientKeys, sharedKeys: request.sharedKeys };
        return link.requestAttributes(keys, { timeoutMs, ...(target === undefined ? {} : { device: target }) });
      }
      let values: unknown = msg.payload;
      if (!isPlainObject(values)) {
        const key = msg.topic;
        if (typeof key !== "string" || key.trim() === "") throw refuse("no-key", { got: describeValue(key) });
        values = { [key.trim()]: msg.payload };
      }
      await link.publishAttributes(values, target === undefined ? {} : { device: target });
      return undefined;
    }

    node.on("input", (msg: NodeMessageInFlow, send, done) => {
      handle(msg).then(
        (response) => {
          if (response !== undefined && use !== undefined) {
            // The request msg comes back with the response, so the flow can correlate it.
            const details: Record<string, unknown> = isPlainObject(msg.thingsboard) ? msg.thingsboard : {};
            send({ ...msg, payload: response, thingsboard: { ...details, device: details.device ?? use.link.name, response: true } });
          }
          done();
        },
        (err: unknown) => {
          if (err instanceof TransportError) {
            const key = err.code === "invalid" || err.code === "too-large" ? "invalid" : err.code === "timeout" ? "timeout" : "not-sent";
            done(new Error(RED._(`thingsboard-attributes.errors.${key}`, { error: err.message }), { cause: err }));
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

  RED.nodes.registerType("thingsboard-attributes", ThingsBoardAttributesNode);
};
