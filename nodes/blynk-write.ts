import type { NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { describeValue, isPlainObject } from "./lib/transport/value-codec.js";
import type { BlynkLink } from "./lib/blynk/link.js";
import { blynkDevice } from "./lib/node-red/config-kinds.js";
import { fleetTarget } from "./lib/node-red/fleet-target.js";
import { registerFlowNode } from "./lib/node-red/flow-node.js";
import { ArrivalOrder, nameSetting } from "./lib/node-red/typed-setting.js";

export = function (RED: NodeAPI): void {
  registerFlowNode(RED, "blynk-write", blynkDevice, (flow, config: NodeDef & { datastream?: string; fleetDevice?: string }) => {
    const { refuse } = flow;
    // typedInputs: fixed, or read per message (msg/flow/global); "" = msg.topic / msg.blynk.device name it.
    const datastreamSetting = nameSetting(RED, flow, "blynk-write", config, "datastream", "datastream");
    /** A fleet's device this node writes to (else msg.blynk.device names it). */
    const fleetDeviceSetting = nameSetting(RED, flow, "blynk-write", config, "fleetDevice", "fleet-device");
    flow.connect({ settings: () => datastreamSetting.problem ?? fleetDeviceSetting.problem });
    const order = new ArrivalOrder(refuse, [datastreamSetting, fleetDeviceSetting]);

    /**
     * Plans and sends one message; every refusal happens before anything is sent. Not async:
     * refusals throw, the link's promise is returned as it is (no extra promise layer per write).
     */
    function write(msg: NodeMessageInFlow, fleetOrDevice: BlynkLink, fixed: string, fixedDevice: string): Promise<void> {
      const options: Record<string, unknown> = isObject(msg.blynk) ? msg.blynk : {};
      const command = fixed !== "" ? fixed : msg.topic;
      const unnamed = options.device === undefined || options.device === "";
      if (fleetOrDevice.fleet !== undefined && fixedDevice === "" && unnamed && fleetDeviceSetting.kind !== "str") {
        // Only a Fleet device left empty in the dialog means every device: a source that reads as unset names none.
        throw refuse("fleet-no-device-source", { source: fleetDeviceSetting.source });
      }
      if (fleetOrDevice.fleet !== undefined && fixedDevice === "" && unnamed && typeof command === "string" && command.startsWith("$system/")) {
        return toEveryDevice(fleetOrDevice, command, msg.payload);
      }
      // A fleet (docs/ARCHITECTURE.md 3.8): the named device's link; any other link is itself.
      const link = fleetTarget(fleetOrDevice, fixedDevice, options.device, refuse);
      const mode = link.connection;
      const property = options.property;
      const erase = options.erase === true;
      const payload = msg.payload;
      const timestamp = (msg as { timestamp?: unknown }).timestamp;

      // local mode: $system/ota, $system/pin-mode, $system/read go to the device as commands (hardware-down.ts).
      const named = fixed !== "" ? fixed : msg.topic;
      if (mode === "local" && typeof named === "string" && named.startsWith("$system/")) return link.write(named, payload);
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

    /**
     * A command ($system/ota, reboot, ping, meta) with no device named goes to every device of the
     * fleet (docs/PROTOCOLS.md 1.8; a firmware file is kept once for all). All are tried; the
     * first failure is the message's error.
     */
    async function toEveryDevice(fleet: BlynkLink, command: string, payload: unknown): Promise<void> {
      const results = await Promise.allSettled((fleet.fleet?.entries() ?? []).map(([, member]) => member.write(command, payload)));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
      if (failed !== undefined) throw failed.reason instanceof Error ? failed.reason : new Error(String(failed.reason));
    }

    function checkValue(payload: unknown): void {
      if (payload === undefined || payload === null || payload === "") throw refuse("empty", { got: describeValue(payload) });
    }

    // Our own refusals are already in words; the link's say what it found, prefixed in the catalog's.
    flow.onInput((msg, _send, link) => {
      if (!order.active) return write(msg, link, datastreamSetting.fixed, fleetDeviceSetting.fixed);
      return order.after(() => Promise.all([datastreamSetting.of(msg), fleetDeviceSetting.of(msg)]), ([name, device]) => write(msg, link, name, device));
    });
    flow.onClose();
  });
};

/** A plain object, also one a Function node made (its sandbox has its own Object.prototype). */
function isObject(value: unknown): value is Record<string, unknown> {
  return isPlainObject(value);
}
