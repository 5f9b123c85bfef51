/**
 * A flow node setting the editor shows as a typedInput: its value and, in `<name>Type`, where the
 * value comes from. `str` and `num` are the value itself and `env` an environment variable, all
 * read once when the node starts; `msg`, `flow` and `global` are read for each message with
 * RED.util.evaluateNodeProperty. A flow saved before the typedInput has no `<name>Type`: the
 * default kind (`str`, or `num` for numbers) reads the value exactly as the node did before.
 *
 * A value that is unset (undefined, null or "") means what an empty setting always meant (e.g.
 * "msg.topic names the datastream"); a value of the wrong kind is refused with an error naming
 * the setting, where its value came from and what is accepted.
 */
import type { Node, NodeAPI, NodeMessage } from "node-red";
import { describeValue } from "../transport/value-codec.js";
import { numberSetting, settingAsText, TIMEOUT_MS } from "./flow-node.js";

export type TypedKind = "str" | "num" | "env" | "msg" | "flow" | "global";

/** The kinds read for each message; the others are read once, at the start. */
const PER_MESSAGE: ReadonlySet<string> = new Set(["msg", "flow", "global"]);

type Refuse = (key: string, params?: Record<string, string>) => Error;

/** Thrown by a parse function: the value is not usable; the refusal says what is accepted. */
export class SettingValueError extends Error {}

export interface TypedSpec<T> {
  /** The node file's RED (its RED._ resolves the node's own catalog). */
  RED: NodeAPI;
  node: Node;
  /** The node's own refusal (`<type>.errors.<key>`). */
  refuse: Refuse;
  /** The setting's name in the node's catalog, `<type>.label.<label>` (the dialog's label). */
  label: string;
  /** What is accepted, a key of the node's catalog (`<type>.accepted.<accepted>`). */
  accepted: string;
  /** The node's type, for the catalog keys above. */
  type: string;
  value: unknown;
  kind: unknown;
  /** The kind when `<name>Type` is unset (a flow from before the typedInput). */
  fallback: "str" | "num";
  /** The kinds this setting takes; another one is refused when the node starts. */
  kinds: readonly TypedKind[];
  /** The value in use from what was read: throws SettingValueError when it is not usable. */
  parse: (value: unknown) => T;
  /** The value of an unset setting (undefined, null, ""). */
  unset: T;
  /**
   * The refusal of a bad value typed into the dialog (`str`/`num`), when the node refused it in
   * its own words before the typedInput: old flows keep their error. Gets the parse error.
   */
  fixedRefusal?: (err: SettingValueError) => Error;
}

export class TypedSetting<T> {
  /** The value is read for each message (msg, flow, global). */
  readonly perMessage: boolean;
  /** Why the setting cannot be used (checked when the node starts), or undefined. */
  readonly problem: Error | undefined;
  readonly #spec: TypedSpec<T>;
  readonly #kind: string;
  readonly #text: string;
  #fixed: T;

  constructor(spec: TypedSpec<T>) {
    this.#spec = spec;
    this.#kind = typeof spec.kind === "string" && spec.kind !== "" ? spec.kind : spec.fallback;
    this.#text = typeof spec.value === "string" ? spec.value.trim() : typeof spec.value === "number" ? String(spec.value) : "";
    this.perMessage = PER_MESSAGE.has(this.#kind);
    this.#fixed = spec.unset;
    this.problem = this.#start();
  }

  /** Where the value comes from: str, num, env, msg, flow or global. */
  get kind(): string {
    return this.#kind;
  }

  /** Where the value comes from, as a user reads it: `msg.topic`, `flow.target`, `env DEVICE`. */
  get source(): string {
    return this.#kind === "env" ? `env ${this.#text}` : this.perMessage ? `${this.#kind}.${this.#text}` : this.#kind;
  }

  /** The value when it is read once (str, num, env); `unset` for a per-message setting. */
  get fixed(): T {
    return this.#fixed;
  }

  /** The value for `msg`: read from it or the context when per message, else the fixed one. */
  of(msg: NodeMessage): Promise<T> {
    if (!this.perMessage) return Promise.resolve(this.#fixed);
    return new Promise<unknown>((resolve, reject) => {
      // evaluateNodeProperty answers through the callback, also for a context store that is asynchronous.
      this.#spec.RED.util.evaluateNodeProperty(this.#text, this.#kind, this.#spec.node, msg, (err, result: unknown) => {
        // A context store may answer `undefined` for "no error", whatever the types say. A msg path
        // through a property the message lacks (msg.a.b without msg.a) is unset, as msg.a.b is.
        if (!(err instanceof Error)) resolve(result);
        else if (this.#kind === "msg") resolve(undefined);
        else reject(this.#refusal(`(${err.message})`));
      });
    }).then((value) => this.#parse(value));
  }

  #start(): Error | undefined {
    const spec = this.#spec;
    if (!(spec.kinds as readonly string[]).includes(this.#kind) || (this.#text === "" && (this.perMessage || this.#kind === "env"))) {
      return spec.refuse("bad-setting-kind", { setting: spec.RED._(`${spec.type}.label.${spec.label}`), source: this.source, kinds: spec.kinds.join(", ") });
    }
    if (this.perMessage) {
      if (this.#kind !== "msg") return undefined;
      try {
        // A msg path Node-RED cannot read (msg.a[) is the setting's fault, not the message's.
        spec.RED.util.normalisePropertyExpression(this.#text);
        return undefined;
      } catch (err) {
        return this.#refusal(`(${err instanceof Error ? err.message : describeValue(err)})`);
      }
    }
    try {
      if (this.#kind === "env") {
        // An env variable may hold a secret: its refusal names the variable, never the value.
        const envRefusal = (): Error => spec.refuse("bad-env-setting", { setting: spec.RED._(`${spec.type}.label.${spec.label}`), source: this.source, accepted: spec.RED._(`${spec.type}.accepted.${spec.accepted}`) });
        this.#fixed = this.#parse(spec.RED.util.evaluateNodeProperty(this.#text, "env", spec.node, {}), envRefusal);
      } else {
        // Typed into the dialog: trimmed, so a value of spaces is unset (as the dialog accepts it).
        this.#fixed = this.#parse(typeof spec.value === "string" ? spec.value.trim() : spec.value, spec.fixedRefusal);
      }
      return undefined;
    } catch (err) {
      return err instanceof Error ? err : this.#refusal(describeValue(err));
    }
  }

  #parse(value: unknown, refusal?: (err: SettingValueError) => Error): T {
    if (value === undefined || value === null || value === "") return this.#spec.unset;
    try {
      return this.#spec.parse(value);
    } catch (err) {
      if (!(err instanceof SettingValueError)) throw err;
      throw refusal !== undefined ? refusal(err) : this.#refusal(describeValue(value));
    }
  }

  #refusal(got: string): Error {
    const { RED, type, refuse, label, accepted } = this.#spec;
    return refuse("bad-setting", { setting: RED._(`${type}.label.${label}`), source: this.source, got, accepted: RED._(`${type}.accepted.${accepted}`) });
  }
}

/** At most this many messages of one node wait for their settings to be read. */
export const MAX_WAITING = 1000;

/**
 * A node's messages in arrival order while settings are read per message: a context store that
 * answers asynchronously answers in any order, so each message is used only after every earlier
 * one was. Bounded: a message beyond `limit` waiting ones is refused (`errors.queue-full`).
 */
export class ArrivalOrder {
  /** Some setting is read per message: messages take their turn (else use the fixed values at once). */
  readonly active: boolean;
  readonly #refuse: Refuse;
  readonly #limit: number;
  #tail: Promise<unknown> = Promise.resolve();
  #waiting = 0;

  constructor(refuse: Refuse, settings: readonly { readonly perMessage: boolean }[], limit = MAX_WAITING) {
    this.#refuse = refuse;
    this.#limit = limit;
    this.active = settings.some((s) => s.perMessage);
  }

  /** `use` with what `read()` gives once every earlier message's `use` was called; a failed read fails in its turn. */
  after<T, R>(read: () => Promise<T>, use: (value: T) => R | Promise<R>): Promise<R> {
    if (this.#waiting >= this.#limit) return Promise.reject(this.#refuse("queue-full", { limit: String(this.#limit) }));
    this.#waiting += 1;
    // Handled at once: a read refused before its turn is no unhandled rejection.
    const settled = read().then((value) => ({ value }), (error: unknown) => ({ error: error instanceof Error ? error : new Error(describeValue(error)) }));
    const turn = this.#tail.then(() => settled);
    // `use` is registered before the next turn's wait, so it is called first.
    const used = turn.then((r) => {
      this.#waiting -= 1;
      if ("error" in r) throw r.error;
      return use(r.value);
    });
    this.#tail = turn;
    return used;
  }
}

/** A name (datastream, event code, device): text, trimmed, or a number as text. */
export function nameValue(value: unknown): string {
  if (typeof value === "string") return value.trim();
  if (typeof value === "number" && Number.isFinite(value)) return String(value);
  throw new SettingValueError();
}

/** Every kind a per-message name takes. */
export const NAME_KINDS: readonly TypedKind[] = ["str", "msg", "flow", "global", "env"];
/** The kinds of a setting that must be known when the node starts (a filter of what arrives). */
export const FIXED_NAME_KINDS: readonly TypedKind[] = ["str", "env"];

type Options<T> = Omit<TypedSpec<T>, "RED" | "node" | "refuse" | "type" | "value" | "kind">;

/** Setting `name` of a node's settings (`config`), with its kind in `<name>Type`. */
export function typedSetting<T>(RED: NodeAPI, flow: { node: Node; refuse: Refuse }, type: string, config: object, name: string, options: Options<T>): TypedSetting<T> {
  const settings = config as Record<string, unknown>;
  return new TypedSetting({ RED, node: flow.node, refuse: flow.refuse, type, value: settings[name], kind: settings[`${name}Type`], ...options });
}

/** A name setting (text; "" when unset), labelled `label` in the dialog; `accepted.name` says what it takes. */
export function nameSetting(RED: NodeAPI, flow: { node: Node; refuse: Refuse }, type: string, config: object, name: string, label: string, kinds: readonly TypedKind[] = NAME_KINDS): TypedSetting<string> {
  return typedSetting(RED, flow, type, config, name, { label, accepted: "name", fallback: "str", kinds, parse: nameValue, unset: "" });
}

/** Every kind a per-message number takes. */
export const NUMBER_KINDS: readonly TypedKind[] = ["num", "msg", "flow", "global", "env"];

/**
 * The `timeout` setting in ms (unset: 10 s); `accepted.timeout` says what it takes. A bad typed
 * number is refused with `errors.invalid-timeout`, as before the typedInput.
 */
export function timeoutSetting(RED: NodeAPI, flow: { node: Node; refuse: Refuse }, type: string, config: object, kinds: readonly TypedKind[] = NUMBER_KINDS): TypedSetting<number> {
  const parse = (value: unknown): number => {
    const ms = typeof value === "string" || typeof value === "number" ? numberSetting(value, TIMEOUT_MS) : undefined;
    if (ms === undefined) throw new SettingValueError();
    return ms;
  };
  const value = (config as Record<string, unknown>).timeout;
  const fixedRefusal = (): Error => flow.refuse("invalid-timeout", { value: typeof value === "string" || typeof value === "number" ? settingAsText(value) : describeValue(value) });
  return typedSetting(RED, flow, type, config, "timeout", { label: "timeout", accepted: "timeout", fallback: "num", kinds, parse, unset: TIMEOUT_MS.fallback, fixedRefusal });
}
