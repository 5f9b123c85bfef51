import type { NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { isPlainObject } from "./lib/thingsboard/codec.js";
import type { TbLink } from "./lib/thingsboard/link.js";
import { thingsBoardDevice } from "./lib/node-red/config-kinds.js";
import { registerFlowNode } from "./lib/node-red/flow-node.js";
import { ArrivalOrder, nameSetting } from "./lib/node-red/typed-setting.js";
import { describeValue } from "./lib/transport/value-codec.js";

export = function (RED: NodeAPI): void {
  registerFlowNode(RED, "thingsboard-telemetry", thingsBoardDevice, (flow, config: NodeDef & { subDevice?: string }) => {
    const { refuse } = flow;
    // A gateway's sub-device: typed, an env variable, or read per message (msg/flow/global).
    const subDeviceSetting = nameSetting(RED, flow, "thingsboard-telemetry", config, "subDevice", "sub-device");
    flow.connect({
      settings: () => subDeviceSetting.problem,
      incoming: (m) => {
        // Local mode only: telemetry the hosted devices send, and their claiming requests (msg.thingsboard.claim).
        const sub = m.subDevice ? { subDevice: true } : {};
        if (m.kind === "claim") {
          const claim = { ...(m.secretKey === undefined ? {} : { secretKey: m.secretKey }), ...(m.durationMs === undefined ? {} : { durationMs: m.durationMs }) };
          flow.node.send({ topic: m.device, payload: claim, thingsboard: { device: m.fleet ?? m.device, claim: true, ...sub } });
          return;
        }
        if (m.kind !== "telemetry") return;
        flow.node.send({ topic: m.device, payload: m.values, thingsboard: { device: m.fleet ?? m.device, ts: m.ts, ...sub } });
      },
    });

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

    const order = new ArrivalOrder(refuse, [subDeviceSetting]);

    /** `subDevice`: the setting's value, "" when msg.thingsboard.device names the device or it is no gateway. */
    async function send(msg: NodeMessageInFlow, link: TbLink, named: string | undefined, subDevice: string): Promise<void> {
      const target = named ?? (subDevice !== "" ? subDevice : undefined);
      const claim: unknown = isPlainObject(msg.thingsboard) ? msg.thingsboard.claim : undefined;
      if (claim !== undefined && claim !== false) {
        // A claiming request instead of telemetry: msg.thingsboard.claim true (payload = {secretKey, durationMs}) or the claim itself.
        const given = claim === true ? msg.payload ?? {} : claim;
        if (!isPlainObject(given)) throw refuse("invalid-claim", { got: describeValue(given) });
        await link.sendClaim({ secretKey: given.secretKey, durationMs: given.durationMs }, target === undefined ? {} : { device: target });
        return;
      }
      await link.sendTelemetry(telemetryOf(msg), target === undefined ? {} : { device: target });
    }

    // Our own refusals are in words already; the link's say what it found, prefixed here.
    flow.onInput((msg, _send, link) => {
      if (link.connection === "local") throw refuse("local-input");
      const named: unknown = isPlainObject(msg.thingsboard) ? msg.thingsboard.device : undefined;
      if (named !== undefined && (typeof named !== "string" || named.trim() === "")) throw refuse("invalid-sub-device", { got: describeValue(named) });
      const reads = named === undefined && link.gateway;
      if (!order.active) return send(msg, link, named, reads ? subDeviceSetting.fixed : "");
      // A message that reads nothing waits its turn too: it must not overtake one whose read is slow.
      return order.after(() => (reads ? subDeviceSetting.of(msg) : Promise.resolve("")), (subDevice) => send(msg, link, named, subDevice));
    });
    flow.onClose();
  });
};
