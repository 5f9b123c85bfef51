import type { NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { isPlainObject } from "./lib/thingsboard/codec.js";
import { StaleReplyError, type TbLink } from "./lib/thingsboard/link.js";
import type { StatusView } from "./lib/thingsboard/link-user.js";
import type { AskedQuestion } from "./lib/thingsboard/provision-questions.js";
import { thingsBoardDevice } from "./lib/node-red/config-kinds.js";
import { fleetMember } from "./lib/node-red/fleet-target.js";
import { registerFlowNode, textSetting, SEND_ERRORS } from "./lib/node-red/flow-node.js";
import { ArrivalOrder, nameSetting, timeoutSetting } from "./lib/node-red/typed-setting.js";
import { TransportError } from "./lib/transport/errors.js";
import { ReportThrottle } from "./lib/transport/report-throttle.js";
import { describeValue } from "./lib/transport/value-codec.js";

interface TbRpcDef extends NodeDef {
  subDevice?: string;
  /** call mode, a fleet: the device this node calls (else msg.thingsboard.device names it). */
  fleetDevice?: string;
  mode?: string;
  /** ms: how long a call waits for its answer / a served request for the flow's reply. */
  timeout?: string | number;
}

export = function (RED: NodeAPI): void {
  registerFlowNode(RED, "thingsboard-rpc", thingsBoardDevice, (flow, config: TbRpcDef) => {
    const { node, refuse } = flow;
    const mode = textSetting(config.mode) || "serve";
    // typedInputs: typed, an env variable, or read per message (msg/flow/global); a served request
    // waits before any message exists, so serve mode takes a typed or env timeout only.
    const subDeviceSetting = nameSetting(RED, flow, "thingsboard-rpc", config, "subDevice", "sub-device");
    const fleetDeviceSetting = nameSetting(RED, flow, "thingsboard-rpc", config, "fleetDevice", "fleet-device");
    const timeout = timeoutSetting(RED, flow, "thingsboard-rpc", config, mode === "serve" ? ["num", "env"] : undefined);
    const timeoutMs = timeout.fixed;
    /** Requests this node emitted (serve) or calls it made (call) that wait. */
    let waiting = 0;
    let linkView: StatusView | undefined;

    const show = (view: StatusView | undefined): void => {
      linkView = view;
      if (waiting > 0 && view?.fill === "green") node.status({ fill: "blue", shape: "dot", text: RED._("thingsboard-rpc.status.waiting", { count: waiting }) });
      else flow.render(view);
    };
    const count = (delta: number): void => {
      waiting += delta;
      show(linkView);
    };

    const unanswered = new ReportThrottle({
      summary: (_text, _kind, count, last) => {
        node.warn(RED._("thingsboard-rpc.warnings.unanswered-more", { count: String(count), last }));
      },
    });
    flow.connect({
      settings: () => {
        if (mode !== "serve" && mode !== "call") return refuse("invalid-mode", { value: mode });
        return timeout.problem ?? subDeviceSetting.problem ?? fleetDeviceSetting.problem;
      },
      status: show,
      incoming: (m) => {
        const link = flow.link;
        if (m.kind !== "rpc" || mode !== "serve" || link === undefined) return;
        const details = { device: m.fleet ?? m.device, rpcId: m.id, method: m.method, ...(m.subDevice ? { subDevice: true } : {}) };
        count(1);
        link.awaitReply(m, timeoutMs).then(
          () => { count(-1); },
          (err: unknown) => {
            count(-1);
            if (err instanceof TransportError && err.code === "timeout") {
              const text = RED._("thingsboard-rpc.warnings.unanswered", { method: m.method, id: m.idText, device: m.device, timeout: String(timeoutMs) });
              // A device can send requests faster than a flow answers: a few lines, then one a minute.
              if (unanswered.admit("unanswered", text)) node.warn(text);
            }
          },
        );
        node.send({ topic: m.method, payload: m.params, thingsboard: details });
      },
    });

    // A fleet open to provisioning asks its serve nodes first (docs/PROTOCOLS.md 4.3): approve with true, veto with false.
    const provisioning = mode === "serve" ? flow.handle?.provisioning : undefined;
    const onQuestion = (q: AskedQuestion): void => {
      const { id, ...question } = q;
      node.send({ topic: "provision", payload: question, thingsboard: { device: q.deviceName, provision: true, provisionId: id } });
    };
    provisioning?.on("question", onQuestion);

    /** A flow's decision on a provisioning request this node emitted. */
    function decideProvisioning(msg: NodeMessageInFlow, details: Record<string, unknown>): void {
      if (provisioning === undefined) throw refuse("no-provisioning");
      const approve = msg.payload;
      if (typeof approve !== "boolean") throw refuse("invalid-provision-answer", { got: describeValue(approve) });
      if (!provisioning.answer(details.provisionId, approve)) {
        node.warn(RED._("thingsboard-rpc.warnings.stale-provision", { device: describeValue(details.device), wait: String(provisioning.waitMs) }));
      }
    }

    function namedDevice(details: Record<string, unknown>): string | undefined {
      const named = details.device;
      if (named !== undefined && (typeof named !== "string" || named.trim() === "")) throw refuse("invalid-sub-device", { got: describeValue(named) });
      return named;
    }

    /** serve: the msg is a reply to a request this device's serve nodes emitted. */
    async function reply(msg: NodeMessageInFlow, details: Record<string, unknown>, link: TbLink): Promise<void> {
      if (details.rpcId === undefined) throw refuse("no-rpc-id");
      // A fleet (docs/ARCHITECTURE.md 3.8): the reply goes to the device the request came from.
      if (link.fleet !== undefined) {
        await fleetMember(link, "", details.device, refuse).link.replyRpc({ id: details.rpcId }, msg.payload);
        return;
      }
      const named = namedDevice(details);
      await link.replyRpc({ id: details.rpcId, ...(named === undefined ? {} : { device: named }) }, msg.payload);
    }

    /** call mode: what a message's settings read (its fleet device, sub-device and timeout). */
    interface Reads { device: string; subDevice: string; waitMs: number }
    const order = new ArrivalOrder(refuse, mode === "call" ? [fleetDeviceSetting, subDeviceSetting, timeout] : []);
    const fixedReads = (): Reads => ({ device: fleetDeviceSetting.fixed, subDevice: subDeviceSetting.fixed, waitMs: timeout.fixed });
    const readsOf = async (msg: NodeMessageInFlow): Promise<Reads> => ({ device: await fleetDeviceSetting.of(msg), subDevice: await subDeviceSetting.of(msg), waitMs: await timeout.of(msg) });

    /** call: the msg is a request to the other side; resolves with its answer and the fleet device it went to. */
    async function call(msg: NodeMessageInFlow, details: Record<string, unknown>, link: TbLink, { device: fixedDevice, subDevice, waitMs }: Reads): Promise<{ result: unknown; device?: { name: string; id: string } }> {
      const payload = msg.payload;
      const fromPayload = isPlainObject(payload) && typeof payload.method === "string";
      const method = fromPayload ? payload.method : msg.topic;
      if (typeof method !== "string" || method.trim() === "") throw refuse("no-method", { got: describeValue(method) });
      const params = fromPayload ? payload.params : payload;
      const member = fleetMember(link, fixedDevice, details.device, refuse);
      const target = member.device !== undefined ? undefined : namedDevice(details) ?? (link.gateway && subDevice !== "" ? subDevice : undefined);
      count(1);
      try {
        const result = await member.link.callRpc(method, params, { timeoutMs: waitMs, ...(target === undefined ? {} : { device: target }) });
        // The device read before the call labels its answer: a setting read again may have changed meanwhile.
        return { result, ...(member.device === undefined ? {} : { device: member.device }) };
      } finally {
        count(-1);
      }
    }

    flow.onInput((msg, send, link) => {
      const details: Record<string, unknown> = isPlainObject(msg.thingsboard) ? msg.thingsboard : {};
      if (mode === "serve" && details.provisionId !== undefined) {
        decideProvisioning(msg, details);
        return Promise.resolve();
      }
      if (mode === "serve") {
        return reply(msg, details, link).catch((err: unknown) => {
          // A late or second reply is not the flow's error to catch: the request is over either way.
          if (!(err instanceof StaleReplyError)) throw err;
          node.warn(RED._("thingsboard-rpc.warnings.stale-reply", { error: err.message }));
        });
      }
      // Fixed settings are used at once: a message is sent in the same turn as before the typedInputs.
      const called = order.active ? order.after(() => readsOf(msg), (reads) => call(msg, details, link, reads)) : call(msg, details, link, fixedReads());
      return called.then(({ result, device }) => {
        const method = typeof msg.topic === "string" && msg.topic !== "" ? msg.topic : undefined;
        send({ ...msg, payload: result, thingsboard: { ...details, device: device ?? details.device ?? link.name, ...(method === undefined ? {} : { method }) } });
      });
    }, { ...SEND_ERRORS, timeout: "timeout", other: "failed" });

    flow.onClose(() => {
      unanswered.close();
      provisioning?.off("question", onQuestion);
    });
  });
};
