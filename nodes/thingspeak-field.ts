import type { NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from "node-red";
import { toError } from "./lib/transport/errors.js";
import { describeValue, parseScalar } from "./lib/transport/value-codec.js";
import { isPlainObject, toFieldNumber, updatePairs, type FeedEntry, type FieldNumber } from "./lib/thingspeak/codec.js";
import type { ThingSpeakIncoming, ThingSpeakLink, WriteReceipt } from "./lib/thingspeak/link.js";
import { thingSpeakChannel } from "./lib/node-red/config-kinds.js";
import { registerFlowNode, SEND_ERRORS } from "./lib/node-red/flow-node.js";
import { onFlowsStarted } from "./lib/node-red/flows-started.js";
import { ArrivalOrder, NUMBER_KINDS, SettingValueError, typedSetting } from "./lib/node-red/typed-setting.js";

interface ThingSpeakFieldDef extends NodeDef {
  /** "1".."8"; "" = all fields (subscribe) / from msg.topic (write). */
  field?: string | number;
  mode?: string;
  /** write, rest mode: a backlog goes out as one bulk update. */
  bulk?: boolean;
  /** subscribe, rest mode: seconds between polls; "" = 15. */
  interval?: string | number;
}

const DEFAULT_POLL_SEC = 15;

export = function (RED: NodeAPI): void {
  registerFlowNode(RED, "thingspeak-field", thingSpeakChannel, (flow, config: ThingSpeakFieldDef) => {
    const { node, refuse } = flow;
    const channel = flow.handle;
    const mode = config.mode === undefined || config.mode === "" ? "write" : config.mode;
    const bulk = config.bulk === true;
    // The field: typed, an env variable, or (write mode) read per message from msg/flow/global;
    // unset: msg.topic or the payload's keys name it (write), every field (subscribe).
    const fieldSetting = typedSetting<FieldNumber | undefined>(RED, flow, "thingspeak-field", config, "field", {
      label: "field",
      accepted: "field",
      fallback: "str",
      kinds: mode === "subscribe" ? ["str", "num", "env"] : ["str", ...NUMBER_KINDS],
      parse: (value) => {
        try {
          return toFieldNumber(value);
        } catch (err) {
          throw new SettingValueError(toError(err).message);
        }
      },
      unset: undefined,
      fixedRefusal: (err) => refuse("invalid-field", { error: err.message }),
    });
    const field = fieldSetting.fixed;
    let timer: NodeJS.Timeout | undefined;
    let stopWaiting: (() => void) | undefined;
    let unwatch: (() => void) | undefined;
    /** Highest entry id emitted (rest polling emits only newer ones). */
    let lastId: number | undefined;
    let lastReadError: string | undefined;

    const rawInterval = String(config.interval ?? "").trim();
    const pollSec = rawInterval === "" ? DEFAULT_POLL_SEC : Number(rawInterval);
    const link = flow.connect({
      settings: () => {
        if (fieldSetting.problem !== undefined) return fieldSetting.problem;
        if (mode !== "write" && mode !== "subscribe") return refuse("invalid-mode", { value: mode });
        if (mode === "subscribe" && !(Number.isFinite(pollSec) && pollSec >= 1 && pollSec <= 86_400)) return refuse("invalid-interval", { value: rawInterval });
        return undefined;
      },
      check: (handle) => (mode === "write" && !handle.writable ? refuse("no-write-key") : undefined),
      ...(mode === "subscribe" ? { incoming: (m: ThingSpeakIncoming) => { emitIncoming(m); } } : {}),
    });

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

    const whenFlowsStarted = (): void => {
      // rest: the newest entry first, then only newer ones; messages wait until every node exists.
      poll();
      timer = setInterval(poll, pollSec * 1000);
    };
    if (link !== undefined && mode === "subscribe") {
      unwatch = link.watch(field);
      if (link.connection === "rest") stopWaiting = onFlowsStarted(RED, whenFlowsStarted, true);
    }

    const order = new ArrivalOrder(refuse, [fieldSetting]);

    /** `setting`: the Field setting's value for this message. */
    async function write(msg: NodeMessageInFlow, link: ThingSpeakLink, setting: FieldNumber | undefined): Promise<WriteReceipt> {
      const payload = msg.payload;
      if (isPlainObject(payload)) return link.write(payload, undefined, { bulk });
      let target = setting;
      if (target === undefined) {
        const topic = msg.topic;
        if (typeof topic !== "string" || topic.trim() === "") throw refuse("no-field", { got: describeValue(topic) });
        try {
          target = toFieldNumber(topic);
        } catch (err) {
          throw refuse("invalid", { error: toError(err).message });
        }
      }
      return link.write(payload, target, { bulk });
    }

    flow.onInput((msg, send, link) => {
      if (mode === "write") {
        // An object payload names its fields: nothing to read, but it waits its turn all the same.
        const written = order.active ? order.after(() => (isPlainObject(msg.payload) ? Promise.resolve(undefined) : fieldSetting.of(msg)), (setting) => write(msg, link, setting)) : write(msg, link, field);
        return written.then((receipt) => {
          const sent = Object.fromEntries(updatePairs(receipt.update));
          send({ ...msg, payload: receipt.entry ?? sent, thingspeak: { ...details(receipt.entry), entryId: receipt.entryId ?? null, sent, coalesced: receipt.coalesced, ...(receipt.bulk ? { bulk: true } : {}) } });
        });
      }
      // Subscribe: reading on demand needs stored entries (rest, local); over MQTT they only arrive.
      if (link.connection === "mqtt") return undefined;
      return link.readNew(undefined, field).then((entries) => {
        const entry = entries.at(-1);
        seen(entry);
        const out = entry === undefined ? undefined : entryMessage(entry, RED.util.cloneMessage(msg));
        if (out !== undefined) send(out);
      });
    }, { ...SEND_ERRORS, overflow: "overflow" });

    flow.onClose(() => {
      clearInterval(timer);
      unwatch?.();
      stopWaiting?.();
    });
  });
};
