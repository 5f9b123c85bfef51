import type { NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { describeValue } from "./lib/transport/value-codec.js";
import type { BlynkLink } from "./lib/blynk/link.js";
import { blynkDevice } from "./lib/node-red/config-kinds.js";
import { registerFlowNode } from "./lib/node-red/flow-node.js";
import { ArrivalOrder, FIXED_NAME_KINDS, nameSetting } from "./lib/node-red/typed-setting.js";

export = function (RED: NodeAPI): void {
  registerFlowNode(RED, "blynk-event", blynkDevice, (flow, config: NodeDef & { event?: string }) => {
    const { node, refuse } = flow;
    // The event code: typed, an env variable, or read per message (msg/flow/global); "" = msg.topic.
    const event = nameSetting(RED, flow, "blynk-event", config, "event", "event");
    // local mode filters the events devices log by a code known at the start only (check refuses the others).
    const filter = event.fixed;
    flow.connect({
      settings: () => event.problem,
      // local mode filters what hosted devices log by a code known at the start: a per-message code is none.
      check: (handle) => (handle.connection === "local" && event.perMessage ? refuse("bad-setting-kind", { setting: RED._("blynk-event.label.event"), source: event.source, kinds: FIXED_NAME_KINDS.join(", ") }) : undefined),
      // local mode: the events hosted devices log come out of the output.
      incoming: (m) => {
        if (m.kind !== "event" || (filter !== "" && m.code !== filter)) return;
        node.send({ topic: m.code, payload: m.description, blynk: { ...m.details, device: m.device ?? flow.handle?.deviceName, event: m.code, source: m.source } });
      },
    });

    const order = new ArrivalOrder(refuse, [event]);

    async function log(msg: NodeMessageInFlow, link: BlynkLink, fixed: string): Promise<void> {
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

    flow.onInput((msg, _send, link) => {
      if (link.connection === "local") throw refuse("local-input");
      return order.active ? order.after(() => event.of(msg), (code) => log(msg, link, code)) : log(msg, link, event.fixed);
    });
    flow.onClose();
  });
};
