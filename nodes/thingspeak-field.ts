import type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from "node-red";
import { TransportError, toError } from "./lib/transport/errors.js";
import { describeValue, parseScalar } from "./lib/transport/value-codec.js";
import { isPlainObject, toFieldNumber, updatePairs, type FeedEntry, type FieldNumber } from "./lib/thingspeak/codec.js";
import type { ThingSpeakIncoming, WriteReceipt } from "./lib/thingspeak/link.js";
import { channelHandleOf, useLink, type LinkUse, type StatusView, type ThingSpeakChannelHandle } from "./lib/thingspeak/link-user.js";

interface ThingSpeakFieldDef extends NodeDef {
  channel?: string;
  /** "1".."8"; "" = all fields (subscribe) / from msg.topic (write). */
  field?: string | number;
  mode?: string;
  /** write, rest mode: a backlog goes out as one bulk update. */
  bulk?: boolean;
  /** subscribe, rest mode: seconds between polls; "" = 15. */
  interval?: string | number;
}

/** The status and error texts all ThingSpeak nodes share live in the thingspeak-channel catalog. */
const CHANNEL = "@iot-bridge/node-red/thingspeak-channel:thingspeak-channel.";
const DEFAULT_POLL_SEC = 15;

export = function (RED: NodeAPI): void {
  function ThingSpeakFieldNode(this: Node, config: ThingSpeakFieldDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const channel = channelHandleOf(RED.nodes.getNode(config.channel ?? ""));
    const mode = config.mode === undefined || config.mode === "" ? "write" : config.mode;
    const bulk = config.bulk === true;
    let field: FieldNumber | undefined;
    let timer: NodeJS.Timeout | undefined;
    let unwatch: (() => void) | undefined;
    /** Highest entry id emitted (rest polling emits only newer ones). */
    let lastId: number | undefined;
    let lastReadError: string | undefined;

    const show = (view: StatusView | undefined): void => {
      if (view === undefined) node.status({});
      else node.status({ fill: view.fill, shape: view.shape, text: view.params === undefined ? `${CHANNEL}status.${view.key}` : RED._(`${CHANNEL}status.${view.key}`, view.params) });
    };
    const refuse = (key: string, params: Record<string, string> = {}): Error => new Error(RED._(`thingspeak-field.errors.${key}`, params));

    /** Why the channel cannot be used, in words (read afresh: opening its link may have failed since). */
    const channelProblem = (handle: ThingSpeakChannelHandle): string =>
      RED._(`${CHANNEL}errors.${handle.problem?.key ?? "invalid-config"}`, handle.problem?.params ?? {});

    let unusable: Error | undefined;
    const rawField = String(config.field ?? "").trim();
    try {
      if (rawField !== "") field = toFieldNumber(rawField);
    } catch (err) {
      unusable = refuse("invalid-field", { error: toError(err).message });
    }
    if (mode !== "write" && mode !== "subscribe") unusable ??= refuse("invalid-mode", { value: mode });
    const rawInterval = String(config.interval ?? "").trim();
    const pollSec = rawInterval === "" ? DEFAULT_POLL_SEC : Number(rawInterval);
    if (mode === "subscribe" && !(Number.isFinite(pollSec) && pollSec >= 1 && pollSec <= 86_400)) unusable ??= refuse("invalid-interval", { value: rawInterval });

    let use: LinkUse | undefined;
    if (channel === undefined) {
      unusable = refuse("no-channel");
      show({ fill: "red", shape: "ring", key: "no-channel" });
    } else if (channel.problem !== undefined) {
      unusable = refuse("channel-invalid", { error: channelProblem(channel) });
      show({ fill: "red", shape: "ring", key: "config-error" });
    } else if (unusable === undefined && mode === "write" && !channel.writable) {
      unusable = refuse("no-write-key");
      show({ fill: "red", shape: "ring", key: "config-error" });
    } else if (unusable !== undefined) {
      show({ fill: "red", shape: "ring", key: "config-error" });
    } else {
      use = useLink(channel, node.id, {
        status: show,
        ...(mode === "subscribe" ? { incoming: (m: ThingSpeakIncoming) => { emitIncoming(m); } } : {}),
        failed: (err) => { node.warn(err.message); },
      });
      if (use === undefined) {
        unusable = refuse("channel-invalid", { error: channelProblem(channel) });
        show({ fill: "red", shape: "ring", key: "config-error" });
      }
    }
    if (unusable !== undefined) node.error(unusable.message);

    /** msg.thingspeak for an entry (or only a field's text, over MQTT). */
    const details = (entry: FeedEntry | undefined): Record<string, unknown> => ({
      channelId: entry?.channel_id ?? channel?.channelId,
      channel: channel?.deviceName,
      entryId: entry?.entry_id ?? null,
      createdAt: entry?.created_at ?? null,
      entry: entry ?? null,
    });

    /** The message for an entry (rest and local reads), or undefined when it lacks this node's field. */
    const entryMessage = (entry: FeedEntry, base: NodeMessage = {}): NodeMessage | undefined => {
      if (field === undefined) return { ...base, topic: "channel", payload: entry, thingspeak: details(entry) };
      const text = entry[`field${field}`];
      return text === null ? undefined : { ...base, topic: `field${field}`, payload: parseScalar(text), thingspeak: details(entry) };
    };

    const seen = (entry: FeedEntry | undefined): void => {
      if (entry !== undefined) lastId = Math.max(lastId ?? 0, entry.entry_id);
    };

    function emitIncoming(m: ThingSpeakIncoming): void {
      if (field === undefined ? m.kind !== "entry" : m.kind !== "field" || m.field !== field) return;
      seen(m.entry);
      const msg: NodeMessage =
        m.kind === "entry"
          ? { topic: "channel", payload: m.entry, thingspeak: details(m.entry) }
          : { topic: `field${m.field}`, payload: parseScalar(m.text), thingspeak: details(m.entry) };
      node.send(msg);
    }

    const poll = (): void => {
      const link = use?.link;
      if (link === undefined) return;
      link.readNew(lastId, field).then(
        (entries) => {
          lastReadError = undefined;
          for (const entry of entries) {
            if (lastId !== undefined && entry.entry_id <= lastId) continue;
            seen(entry);
            const msg = entryMessage(entry);
            if (msg !== undefined) node.send(msg);
          }
        },
        (err: unknown) => {
          // Once per distinct problem: the status shows when it is ongoing.
          const text = toError(err).message;
          if (text !== lastReadError) node.warn(RED._("thingspeak-field.warnings.read-failed", { error: text }));
          lastReadError = text;
        },
      );
    };

    const onFlowsStarted = (): void => {
      // rest: the newest entry first, then only newer ones; messages wait until every node exists.
      poll();
      timer = setInterval(poll, pollSec * 1000);
    };
    if (use !== undefined && mode === "subscribe") {
      unwatch = use.link.watch(field);
      if (use.link.connection === "rest") RED.events.once("flows:started", onFlowsStarted);
    }

    async function write(msg: NodeMessageInFlow): Promise<WriteReceipt> {
      if (use === undefined) throw unusable ?? refuse("no-channel");
      const payload = msg.payload;
      if (isPlainObject(payload)) return use.link.write(payload, undefined, { bulk });
      let target = field;
      if (target === undefined) {
        const topic = msg.topic;
        if (typeof topic !== "string" || topic.trim() === "") throw refuse("no-field", { got: describeValue(topic) });
        try {
          target = toFieldNumber(topic);
        } catch (err) {
          throw refuse("invalid", { error: toError(err).message });
        }
      }
      return use.link.write(payload, target, { bulk });
    }

    const failed = (err: unknown, done: (err?: Error) => void): void => {
      // Our own refusals are already in words; the link's say what it found, prefixed here.
      if (err instanceof TransportError) {
        const key = err.code === "invalid" || err.code === "too-large" ? "invalid" : err.code === "overflow" ? "overflow" : "not-sent";
        done(new Error(RED._(`thingspeak-field.errors.${key}`, { error: err.message }), { cause: err }));
      } else done(toError(err));
    };

    node.on("input", (msg: NodeMessageInFlow, send, done) => {
      if (unusable !== undefined || use === undefined) {
        done(unusable ?? refuse("no-channel"));
        return;
      }
      const link = use.link;
      if (mode === "write") {
        write(msg).then(
          (receipt) => {
            const sent = Object.fromEntries(updatePairs(receipt.update));
            send({ ...msg, payload: receipt.entry ?? sent, thingspeak: { ...details(receipt.entry), entryId: receipt.entryId ?? null, sent, coalesced: receipt.coalesced, ...(receipt.bulk ? { bulk: true } : {}) } });
            done();
          },
          (err: unknown) => { failed(err, done); },
        );
        return;
      }
      // Subscribe: reading on demand needs stored entries (rest, local); over MQTT they only arrive.
      if (link.connection === "mqtt") {
        done();
        return;
      }
      link.readNew(undefined, field).then(
        (entries) => {
          const entry = entries.at(-1);
          seen(entry);
          const out = entry === undefined ? undefined : entryMessage(entry, RED.util.cloneMessage(msg));
          if (out !== undefined) send(out);
          done();
        },
        (err: unknown) => { failed(err, done); },
      );
    });

    node.on("close", (removed: boolean, done: () => void) => {
      clearInterval(timer);
      unwatch?.();
      RED.events.removeListener("flows:started", onFlowsStarted);
      const finish = (): void => {
        node.status({});
        done();
      };
      void (use === undefined ? Promise.resolve() : use.release(removed)).catch(() => undefined).finally(finish);
    });
  }

  RED.nodes.registerType("thingspeak-field", ThingSpeakFieldNode);
};
