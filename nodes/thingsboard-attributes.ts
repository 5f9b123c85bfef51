import type { NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { isPlainObject } from "./lib/thingsboard/codec.js";
import type { TbLink } from "./lib/thingsboard/link.js";
import { thingsBoardDevice } from "./lib/node-red/config-kinds.js";
import { fleetMember } from "./lib/node-red/fleet-target.js";
import { numberSetting, registerFlowNode, settingAsText, TIMEOUT_MS, textSetting, SEND_ERRORS } from "./lib/node-red/flow-node.js";
import { describeValue } from "./lib/transport/value-codec.js";

interface TbAttributesDef extends NodeDef {
  subDevice?: string;
  /** A fleet's device this node writes to (else msg.thingsboard.device names it). */
  fleetDevice?: string;
  /** ms an attribute request waits for its response. */
  timeout?: string | number;
}

export = function (RED: NodeAPI): void {
  registerFlowNode(RED, "thingsboard-attributes", thingsBoardDevice, (flow, config: TbAttributesDef) => {
    const { node, refuse } = flow;
    const subDevice = textSetting(config.subDevice);
    const fixedDevice = textSetting(config.fleetDevice);
    const timeoutMs = numberSetting(config.timeout, TIMEOUT_MS) ?? 0; // 0: unusable, refused below
    flow.connect({
      settings: () => (timeoutMs === 0 ? refuse("invalid-timeout", { value: settingAsText(config.timeout) }) : undefined),
      incoming: (m) => {
        if (m.kind !== "attributes") return;
        const details = { device: m.fleet ?? m.device, scope: m.scope, ...(m.deleted.length > 0 ? { deleted: m.deleted } : {}), ...(m.subDevice ? { subDevice: true } : {}) };
        node.send({ topic: m.device, payload: m.values, thingsboard: details });
      },
    });

    /** The sub-device a message is for (gateway), or undefined for the device itself. */
    function targetOf(details: Record<string, unknown>, gateway: boolean): string | undefined {
      const named = details.device;
      if (named !== undefined && (typeof named !== "string" || named.trim() === "")) throw refuse("invalid-sub-device", { got: describeValue(named) });
      return named ?? (gateway && subDevice !== "" ? subDevice : undefined);
    }

    /** `fleet`: `link` is a fleet device's, which msg.thingsboard.device named (no sub-device then). */
    async function handle(msg: NodeMessageInFlow, link: TbLink, fleet: boolean): Promise<unknown> {
      const details: Record<string, unknown> = isPlainObject(msg.thingsboard) ? msg.thingsboard : {};
      const target = fleet ? undefined : targetOf(details, link.gateway);
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

    flow.onInput(async (msg, send, link) => {
      const details: Record<string, unknown> = isPlainObject(msg.thingsboard) ? msg.thingsboard : {};
      // A fleet (docs/ARCHITECTURE.md 3.8): msg.thingsboard.device names the fleet device, never a sub-device.
      const member = fleetMember(link, fixedDevice, details.device, refuse);
      const response = await handle(msg, member.link, member.device !== undefined);
      if (response === undefined) return;
      // The request msg comes back with the response, so the flow can correlate it.
      send({ ...msg, payload: response, thingsboard: { ...details, device: member.device ?? details.device ?? link.name, response: true } });
    }, { ...SEND_ERRORS, timeout: "timeout" });
    flow.onClose();
  });
};
