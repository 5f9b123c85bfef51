import type { NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from "node-red";
import { isPlainObject } from "./lib/thingsboard/codec.js";
import type { TbLink } from "./lib/thingsboard/link.js";
import { thingsBoardDevice } from "./lib/node-red/config-kinds.js";
import { fleetMember } from "./lib/node-red/fleet-target.js";
import { registerFlowNode, SEND_ERRORS } from "./lib/node-red/flow-node.js";
import { ArrivalOrder, nameSetting, timeoutSetting } from "./lib/node-red/typed-setting.js";
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
    // typedInputs: typed, an env variable, or read per message (msg/flow/global).
    const subDeviceSetting = nameSetting(RED, flow, "thingsboard-attributes", config, "subDevice", "sub-device");
    const fleetDeviceSetting = nameSetting(RED, flow, "thingsboard-attributes", config, "fleetDevice", "fleet-device");
    const timeout = timeoutSetting(RED, flow, "thingsboard-attributes", config);
    flow.connect({
      settings: () => subDeviceSetting.problem ?? fleetDeviceSetting.problem ?? timeout.problem,
      incoming: (m) => {
        if (m.kind === "firmware") {
          // A verified firmware package (mqtt mode, docs/PROTOCOLS.md 4.6): the flow applies it, then reports UPDATED.
          const { type, title, version, checksum, algorithm, size } = m.info;
          node.send({ topic: m.device, payload: m.data, thingsboard: { device: m.device, firmware: { type, title, version, checksum, algorithm, size } } });
          return;
        }
        if (m.kind !== "attributes") return;
        const details = { device: m.fleet ?? m.device, scope: m.scope, ...(m.deleted.length > 0 ? { deleted: m.deleted } : {}), ...(m.subDevice ? { subDevice: true } : {}) };
        node.send({ topic: m.device, payload: m.values, thingsboard: details });
      },
    });

    /** What a message's settings read: its fleet device, sub-device ("" for a fleet's) and timeout. */
    interface Reads { device: string; subDevice: string; timeoutMs: number }
    const order = new ArrivalOrder(refuse, [fleetDeviceSetting, subDeviceSetting, timeout]);
    const fixedReads = (): Reads => ({ device: fleetDeviceSetting.fixed, subDevice: subDeviceSetting.fixed, timeoutMs: timeout.fixed });
    const readsOf = async (msg: NodeMessageInFlow, link: TbLink): Promise<Reads> => ({
      device: await fleetDeviceSetting.of(msg),
      // A fleet device takes no sub-device: its setting is not read.
      subDevice: link.fleet === undefined ? await subDeviceSetting.of(msg) : "",
      timeoutMs: await timeout.of(msg),
    });

    /** The sub-device a message is for (gateway), or undefined for the device itself. */
    function targetOf(details: Record<string, unknown>, gateway: boolean, subDevice: string): string | undefined {
      const named = details.device;
      if (named !== undefined && (typeof named !== "string" || named.trim() === "")) throw refuse("invalid-sub-device", { got: describeValue(named) });
      return named ?? (gateway && subDevice !== "" ? subDevice : undefined);
    }

    /** `fleet`: `link` is a fleet device's, which msg.thingsboard.device named (no sub-device then). */
    async function handle(msg: NodeMessageInFlow, link: TbLink, fleet: boolean, { subDevice, timeoutMs }: Reads): Promise<unknown> {
      const details: Record<string, unknown> = isPlainObject(msg.thingsboard) ? msg.thingsboard : {};
      const target = fleet ? undefined : targetOf(details, link.gateway, subDevice);
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

    async function act(msg: NodeMessageInFlow, send: (msg: NodeMessage) => void, link: TbLink, reads: Reads): Promise<void> {
      const details: Record<string, unknown> = isPlainObject(msg.thingsboard) ? msg.thingsboard : {};
      const fixedDevice = reads.device;
      const unnamed = details.device === undefined || details.device === "";
      if (link.fleet !== undefined && fixedDevice === "" && unnamed && fleetDeviceSetting.kind !== "str") {
        // Only a Fleet device left empty in the dialog means every device: a source that reads as unset names none.
        throw refuse("fleet-no-device-source", { source: fleetDeviceSetting.source });
      }
      if (Buffer.isBuffer(msg.payload) && link.fleet !== undefined && fixedDevice === "" && unnamed) {
        // Firmware with no device named: every device of the fleet gets it (docs/PROTOCOLS.md 4.6).
        const meta = isPlainObject(details.firmware) ? details.firmware : {};
        await link.sendFirmware(msg.payload, { title: meta.title, version: meta.version, algorithm: meta.algorithm });
        return;
      }
      // A fleet (docs/ARCHITECTURE.md 3.8): msg.thingsboard.device names the fleet device, never a sub-device.
      const member = fleetMember(link, fixedDevice, details.device, refuse);
      const response = await handle(msg, member.link, member.device !== undefined, reads);
      if (response === undefined) return;
      // The request msg comes back with the response, so the flow can correlate it.
      send({ ...msg, payload: response, thingsboard: { ...details, device: member.device ?? details.device ?? link.name, response: true } });
    }

    flow.onInput((msg, send, link) => (order.active ? order.after(() => readsOf(msg, link), (reads) => act(msg, send, link, reads)) : act(msg, send, link, fixedReads())), { ...SEND_ERRORS, timeout: "timeout" });
    flow.onClose();
  });
};
