import type { NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { isPlainObject } from "./lib/thingsboard/codec.js";
import type { TbLink } from "./lib/thingsboard/link.js";
import { thingsBoardDevice } from "./lib/node-red/config-kinds.js";
import { numberSetting, registerFlowNode, settingAsText, TIMEOUT_MS, textSetting, SEND_ERRORS } from "./lib/node-red/flow-node.js";
import { describeValue } from "./lib/transport/value-codec.js";

interface TbAttributesDef extends NodeDef {
  subDevice?: string;
  /** ms an attribute request waits for its response. */
  timeout?: string | number;
}

export = function (RED: NodeAPI): void {
  registerFlowNode(RED, "thingsboard-attributes", thingsBoardDevice, (flow, config: TbAttributesDef) => {
    const { node, refuse } = flow;
    const subDevice = textSetting(config.subDevice);
    const timeoutMs = numberSetting(config.timeout, TIMEOUT_MS) ?? 0; // 0: unusable, refused below
    flow.connect({
      settings: () => (timeoutMs === 0 ? refuse("invalid-timeout", { value: settingAsText(config.timeout) }) : undefined),
      incoming: (m) => {
        if (m.kind === "firmware") {
          // A verified firmware package (mqtt mode, docs/PROTOCOLS.md 4.6): the flow applies it, then reports UPDATED.
          const { type, title, version, checksum, algorithm, size } = m.info;
          node.send({ topic: m.device, payload: m.data, thingsboard: { device: m.device, firmware: { type, title, version, checksum, algorithm, size } } });
          return;
        }
        if (m.kind !== "attributes") return;
        const details = { device: m.device, scope: m.scope, ...(m.deleted.length > 0 ? { deleted: m.deleted } : {}), ...(m.subDevice ? { subDevice: true } : {}) };
        node.send({ topic: m.device, payload: m.values, thingsboard: details });
      },
    });

    /** The sub-device a message is for (gateway), or undefined for the device itself. */
    function targetOf(details: Record<string, unknown>, gateway: boolean): string | undefined {
      const named = details.device;
      if (named !== undefined && (typeof named !== "string" || named.trim() === "")) throw refuse("invalid-sub-device", { got: describeValue(named) });
      return named ?? (gateway && subDevice !== "" ? subDevice : undefined);
    }

    async function handle(msg: NodeMessageInFlow, link: TbLink): Promise<unknown> {
      const details: Record<string, unknown> = isPlainObject(msg.thingsboard) ? msg.thingsboard : {};
      const target = targetOf(details, link.gateway);
      const request = details.request;
      if (request !== undefined && request !== false) {
        if (request !== true && !isPlainObject(request)) throw refuse("invalid-request", { got: describeValue(request) });
        const keys = request === true ? {} : { clientKeys: request.clientKeys, sharedKeys: request.sharedKeys };
        return link.requestAttributes(keys, { timeoutMs, ...(target === undefined ? {} : { device: target }) });
      }
      if (Buffer.isBuffer(msg.payload)) {
        // A firmware package for the hosted device (local mode): title and version in msg.thingsboard.firmware.
        if (target !== undefined) throw refuse("firmware-sub-device", { device: target });
        const meta = isPlainObject(details.firmware) ? details.firmware : {};
        await link.sendFirmware(msg.payload, { title: meta.title, version: meta.version, algorithm: meta.algorithm });
        return undefined;
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

    flow.onInput(async (msg, send, link) => {
      const response = await handle(msg, link);
      if (response === undefined) return;
      // The request msg comes back with the response, so the flow can correlate it.
      const details: Record<string, unknown> = isPlainObject(msg.thingsboard) ? msg.thingsboard : {};
      send({ ...msg, payload: response, thingsboard: { ...details, device: details.device ?? link.name, response: true } });
    }, { ...SEND_ERRORS, timeout: "timeout" });
    flow.onClose();
  });
};
