import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { isPlainObject } from "./lib/thingsboard/codec.js";
import { StaleReplyError } from "./lib/thingsboard/link.js";
import { deviceHandleOf, useLink, type LinkUse, type StatusView } from "./lib/thingsboard/link-user.js";
import { TransportError, toError } from "./lib/transport/errors.js";
import { ReportThrottle } from "./lib/transport/report-throttle.js";
import { describeValue } from "./lib/transport/value-codec.js";

interface TbRpcDef extends NodeDef {
  device?: string;
  subDevice?: string;
  mode?: string;
  /** ms: how long a call waits for its answer / a served request for the flow's reply. */
  timeout?: string | number;
}

/** The status and error texts all ThingsBoard nodes share live in the thingsboard-device catalog. */
const DEVICE = "@iot-bridge/node-red/thingsboard-device:thingsboard-device.";
const DEFAULT_TIMEOUT_MS = 10_000;
const MAX_TIMEOUT_MS = 0x7fff_ffff;

export = function (RED: NodeAPI): void {
  function ThingsBoardRpcNode(this: Node, config: TbRpcDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const subDevice = typeof config.subDevice === "string" ? config.subDevice.trim() : "";
    const mode = typeof config.mode === "string" && config.mode.trim() !== "" ? config.mode.trim() : "serve";
    const device = deviceHandleOf(RED.nodes.getNode(config.device ?? ""));
    const timeoutText = String(config.timeout ?? "").trim();
    const timeoutMs = timeoutText === "" ? DEFAULT_TIMEOUT_MS : Number(timeoutText);
    /** Requests this node emitted (serve) or calls it made (call) that wait. */
    let waiting = 0;
    let linkView: StatusView | undefined;

    const render = (view: StatusView | undefined): void => {
      if (view === undefined) node.status({});
      else node.status({ fill: view.fill, shape: view.shape, text: view.params === undefined ? `${DEVICE}status.${view.key}` : RED._(`${DEVICE}status.${view.key}`, view.params) });
    };
    const show = (view: StatusView | undefined): void => {
      linkView = view;
      if (waiting > 0 && view?.fill === "green") node.status({ fill: "blue", shape: "dot", text: RED._("thingsboard-rpc.status.waiting", { count: waiting }) });
      else render(view);
    };
    const count = (delta: number): void => {
      waiting += delta;
      show(linkView);
    };
    const refuse = (key: string, params: Record<string, string> = {}): Error => new Error(RED._(`thingsboard-rpc.errors.${key}`, params));

    let use: LinkUse | undefined;
    const unanswered = new ReportThrottle({
      summary: (_text, _kind, count, last) => {
        node.warn(RED._("thingsboard-rpc.warnings.unanswered-more", { count: String(count), last }));
      },
    });
    let unusable: Error | undefined;
    if (device === undefined) {
      unusable = refuse("no-device");
      show({ fill: "red", shape: "ring", key: "no-device" });
    } else if (mode !== "serve" && mode !== "call") {
      unusable = refuse("invalid-mode", { value: mode });
      show({ fill: "red", shape: "ring", key: "config-error" });
    } else if (!Number.isInteger(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_TIMEOUT_MS) {
      unusable = refuse("invalid-timeout", { value: timeoutText });
      show({ fill: "red", shape: "ring", key: "config-error" });
    } else {
      use = useLink(device, node.id, {
        status: show,
        incoming: (m) => {
          if (m.kind !== "rpc" || mode !== "serve" || use === undefined) return;
          const details = { device: m.device, rpcId: m.id, method: m.method, ...(m.subDevice ? { subDevice: true } : {}) };
          count(1);
          use.link.awaitReply(m, timeoutMs).then(
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
        failed: (err) => { node.warn(err.message); },
      });
      if (use === undefined) {
        unusable = refuse("device-invalid", { error: RED._(`${DEVICE}errors.${device.problem?.key ?? "invalid-config"}`, device.problem?.params ?? {}) });
        show({ fill: "red", shape: "ring", key: "config-error" });
      }
    }
    if (unusable !== undefined) node.error(unusable.message);

    function namedDevice(details: Record<string, unknown>): string | undefined {
      const named = details.device;
      if (named !== undefined && (typeof named !== "string" || named.trim() === "")) throw refuse("invalid-sub-device", { got: describeValue(named) });
      return named;
    }

    /** serve: the msg is a reply to a request this device's serve nodes emitted. */
    async function reply(msg: NodeMessageInFlow, details: Record<string, unknown>): Promise<void> {
      if (use === undefined) throw unusable ?? refuse("no-device");
      if (details.rpcId === undefined) throw refuse("no-rpc-id");
      const named = namedDevice(details);
      await use.link.replyRpc({ id: details.rpcId, ...(named === undefined ? {} : { device: named }) }, msg.payload);
    }

    /** call: the msg is a request to the other side; resolves with its answer. */
    async function call(msg: NodeMessageInFlow, details: Record<string, unknown>): Promise<unknown> {
      if (use === undefined) throw unusable ?? refuse("no-device");
      const payload = msg.payload;
      const fromPayload = isPlainObject(payload) && typeof payload.method === "string";
      const method = fromPayload ? payload.method : msg.topic;
      if (typeof method !== "string" || method.trim() === "") throw refuse("no-method", { got: describeValue(method) });
      const params = fromPayload ? payload.params : payload;
      const target = namedDevice(details) ?? (use.link.gateway && subDevice !== "" ? subDevice : undefined);
      count(1);
      try {
        return await use.link.callRpc(method, params, { timeoutMs, ...(target === undefined ? {} : { device: target }) });
      } finally {
        count(-1);
      }
    }

    node.on("input", (msg: NodeMessageInFlow, send, done) => {
      const details: Record<string, unknown> = isPlainObject(msg.thingsboard) ? msg.thingsboard : {};
      if (mode === "serve") {
        reply(msg, details).then(
          () => { done(); },
          (err: unknown) => {
            if (err instanceof StaleReplyError) {
              // A late or second reply is not the flow's error to catch: the request is over either way.
              node.warn(RED._("thingsboard-rpc.warnings.stale-reply", { error: err.message }));
              done();
            } else {
              fail(err, done);
            }
          },
        );
        return;
      }
      call(msg, details).then(
        (result) => {
          const method = typeof msg.topic === "string" && msg.topic !== "" ? msg.topic : undefined;
          send({ ...msg, payload: result, thingsboard: { ...details, device: details.device ?? use?.link.name, ...(method === undefined ? {} : { method }) } });
          done();
        },
        (err: unknown) => { fail(err, done); },
      );
    });

    function fail(err: unknown, done: (err?: Error) => void): void {
      if (err instanceof TransportError) {
        const key = err.code === "invalid" || err.code === "too-large" ? "invalid" : err.code === "timeout" ? "timeout" : "failed";
        done(new Error(RED._(`thingsboard-rpc.errors.${key}`, { error: err.message }), { cause: err }));
      } else {
        done(toError(err));
      }
    }

    node.on("close", (removed: boolean, done: () => void) => {
      unanswered.close();
      const finish = (): void => {
        node.status({});
        done();
      };
      void (use === undefined ? Promise.resolve() : use.release(removed)).catch(() => undefined).finally(finish);
    });
  }

  RED.nodes.registerType("thingsboard-rpc", ThingsBoardRpcNode);
};
