/**
 * The part every flow node (blynk-write, thingsboard-rpc, thingspeak-field, ...) shares with its
 * siblings: find the config node, refuse with a key of the node's own catalog when it or the
 * node's settings are unusable, show the link's status with the config node's status texts,
 * turn link errors into `done(err)` in words, and let go of the link on close (`removed`).
 *
 * This folder is the thin Node-RED glue: it is handed the per-node-file RED object (so `RED._`
 * resolves keys without a namespace in that node file's catalog) and imports only Node-RED's
 * types. Nothing in nodes/lib/transport, broker or a platform folder imports it.
 */
import type { Node, NodeAPI, NodeDef, NodeMessage, NodeMessageInFlow } from "node-red";
import { TransportError, toError, type TransportErrorCode } from "../transport/errors.js";
import type { LinkOwner, LinkUse, LinkUserHooks, StatusView } from "../transport/link-users.js";

/** The npm package: explicit catalog namespaces are `<module>/<node type>:`. */
const MODULE = "@iot-bridge/node-red";

/** What a flow node needs to know of the config node type it uses. */
export interface ConfigKind<H extends LinkOwner<L>, L, Incoming> {
  /** The config node's type, whose catalog holds the link status texts and the config problems. */
  readonly type: string;
  /** The flow node setting holding the config node's id. */
  readonly setting: string;
  /** Keys of the flow node's catalog (`errors`) and of the config node's (`status`): none selected. */
  readonly missing: string;
  /** Key of the flow node's catalog (`errors`): the selected config node is unusable. */
  readonly invalid: string;
  /** The handle a config node exposes (what RED.nodes.getNode gave), or undefined. */
  handleOf(node: unknown): H | undefined;
  useLink(handle: H, userId: string, hooks: LinkUserHooks<Incoming>): LinkUse<L> | undefined;
}

/** The flow node's error key for each code of a link's TransportError; `other` for the rest. */
export type LinkErrorKeys = Partial<Record<TransportErrorCode, string>> & { other: string };

/** The keys of nodes that send: the link refused what was given, or it did not get through. */
export const SEND_ERRORS: LinkErrorKeys = { invalid: "invalid", "too-large": "invalid", other: "not-sent" };

export interface ConnectOptions<H, Incoming> {
  /** The node's own settings: a refusal, or undefined. Checked before the config node. */
  settings?: () => Error | undefined;
  /** What depends on the config node's mode: a refusal, or undefined. Checked once it is usable. */
  check?: (handle: H) => Error | undefined;
  /** A link status view to show; the default shows it as it is (see `render`). */
  status?: (view: StatusView | undefined) => void;
  incoming?: (message: Incoming) => void;
  ready?: () => void;
}

/** Answers one input message: returns nothing when done at once, or the promise of the work. */
export type InputHandler<L> = (msg: NodeMessageInFlow, send: (msg: NodeMessage | (NodeMessage | NodeMessage[] | null)[]) => void, link: L) => Promise<unknown> | undefined;

type Params = Record<string, string>;

/**
 * Registers flow node `type`, using a config node of `kind`: each instance is created, handed to
 * `setup` as a FlowNode (with the config node found), and its settings as Node-RED gave them.
 */
// Def, used once, lets each node name the type of its settings (Node-RED hands them over untyped).
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
export function registerFlowNode<Def extends NodeDef, H extends LinkOwner<L>, L, Incoming>(
  RED: NodeAPI,
  type: string,
  kind: ConfigKind<H, L, Incoming>,
  setup: (flow: FlowNode<H, L, Incoming>, config: Def) => void,
): void {
  RED.nodes.registerType(type, function (this: Node, config: Def) {
    RED.nodes.createNode(this, config);
    const id = (config as unknown as Partial<Record<string, unknown>>)[kind.setting];
    setup(new FlowNode(RED, this, type, kind, typeof id === "string" ? id : undefined), config);
  });
}

/** A text setting, trimmed; "" when unset or not text (a number is not a name). */
export function textSetting(value: unknown): string {
  return typeof value === "string" ? value.trim() : "";
}

/** A setting's text, trimmed ("" when unset); what a refusal quotes. */
export function settingAsText(value: string | number | undefined): string {
  return String(value ?? "").trim();
}

export interface NumberRange {
  /** The value when the setting is unset (""). */
  fallback: number;
  min: number;
  max: number;
  whole?: boolean;
}

/** A timer setting in ms: whole, up to what setTimeout takes; 10 s when unset. */
export const TIMEOUT_MS: NumberRange = { fallback: 10_000, min: 1, max: 0x7fff_ffff, whole: true };

/** A number setting; undefined when it is not a number in the range. */
export function numberSetting(value: string | number | undefined, range: NumberRange): number | undefined {
  const text = settingAsText(value);
  const n = text === "" ? range.fallback : Number(text);
  const usable = (range.whole === true ? Number.isInteger(n) : Number.isFinite(n)) && n >= range.min && n <= range.max;
  return usable ? n : undefined;
}

/** Config problems that are only something not filled in yet, and their short status keys (config node's catalog). */
const MISSING_STATUS: Readonly<Partial<Record<string, string>>> = {
  "missing-token": "no-token",
  "missing-credentials": "no-credentials",
  "missing-mqtt-credentials": "no-credentials",
  "missing-broker": "no-broker",
};

export class FlowNode<H extends LinkOwner<L>, L, Incoming> {
  /** The config node's handle; undefined when none (or something else) is selected. */
  readonly handle: H | undefined;
  /** The Node-RED node. */
  readonly node: Node;
  readonly #RED: NodeAPI;
  readonly #type: string;
  readonly #kind: ConfigKind<H, L, Incoming>;
  #use: LinkUse<L> | undefined;
  #unusable: Error | undefined;

  /** `RED` must be the node file's own (its `RED._` resolves the node's catalog). */
  constructor(RED: NodeAPI, node: Node, type: string, kind: ConfigKind<H, L, Incoming>, configId: string | undefined) {
    this.#RED = RED;
    this.node = node;
    this.#type = type;
    this.#kind = kind;
    this.handle = kind.handleOf(RED.nodes.getNode(configId ?? ""));
  }

  /** The link; undefined when the node is unusable (or before `connect`). */
  get link(): L | undefined {
    return this.#use?.link;
  }

  /** Why the node cannot work, once `connect` has said so. */
  get unusable(): Error | undefined {
    return this.#unusable;
  }

  /** An Error in words from the node's own catalog (`<type>.errors.<key>`); a property, so it can be taken out. */
  readonly refuse = (key: string, params: Params = {}): Error => new Error(this.#RED._(`${this.#type}.errors.${key}`, params));

  /** Shows a link status view with the config node's status texts; undefined clears the status. */
  render(view: StatusView | undefined): void {
    if (view === undefined) {
      this.node.status({});
      return;
    }
    const key = `${MODULE}/${this.#kind.type}:${this.#kind.type}.status.${view.key}`;
    this.node.status({ fill: view.fill, shape: view.shape, text: view.params === undefined ? key : this.#RED._(key, view.params) });
  }

  /**
   * Refuses (status, error log, and every input later) or becomes a user of the config node's
   * link. Order: no config node, the node's own settings, the config node's problem, the checks
   * that need its mode, then the link itself. Returns the link, or undefined when refused.
   */
  connect(options: ConnectOptions<H, Incoming> = {}): L | undefined {
    const handle = this.handle;
    if (handle === undefined) {
      this.#refused(this.refuse(this.#kind.missing), this.#kind.missing);
      return undefined;
    }
    const own = options.settings?.();
    // A config node without credentials (an example just imported) shows "no token", not an error.
    const problem = own === undefined ? handle.problem : undefined;
    const wrong = own ?? (problem === undefined ? options.check?.(handle) : this.#invalid(handle));
    if (wrong !== undefined) {
      const missing = problem === undefined ? undefined : MISSING_STATUS[problem.key];
      this.#refused(wrong, missing ?? "config-error", missing === undefined ? "red" : "yellow");
      return undefined;
    }
    const hooks: LinkUserHooks<Incoming> = {
      status: options.status ?? ((view) => { this.render(view); }),
      failed: (err) => { this.node.warn(err.message); },
    };
    if (options.incoming !== undefined) hooks.incoming = options.incoming;
    if (options.ready !== undefined) hooks.ready = options.ready;
    this.#use = this.#kind.useLink(handle, this.node.id, hooks);
    if (this.#use === undefined) this.#refused(this.#invalid(handle), "config-error");
    return this.#use?.link;
  }

  /**
   * Handles input: an unusable node refuses every message with its reason; otherwise `handler`
   * answers, and done() is called exactly once, with a link error put in the node's words.
   */
  onInput(handler: InputHandler<L>, linkErrors: LinkErrorKeys = SEND_ERRORS): void {
    const fail = (err: unknown): Error => {
      if (!(err instanceof TransportError)) return toError(err);
      const key = linkErrors[err.code] ?? linkErrors.other;
      return new Error(this.#RED._(`${this.#type}.errors.${key}`, { error: err.message }), { cause: err });
    };
    this.node.on("input", (msg: NodeMessageInFlow, send, done) => {
      const link = this.#use?.link;
      if (link === undefined) {
        done(this.#unusable);
        return;
      }
      let work: Promise<unknown> | undefined;
      try {
        work = handler(msg, send, link);
      } catch (err) {
        done(fail(err));
        return;
      }
      if (work === undefined) done();
      else work.then(() => { done(); }, (err: unknown) => { done(fail(err)); });
    });
  }

  /** On close: `cleanup` (timers, listeners), then the link is let go (closed with its last user when `removed`). */
  onClose(cleanup?: () => void): void {
    this.node.on("close", (removed: boolean, done: () => void) => {
      try {
        cleanup?.();
      } catch (err) {
        this.node.warn(toError(err).message);
      }
      const finish = (): void => {
        this.node.status({});
        done();
      };
      void (this.#use === undefined ? Promise.resolve() : this.#use.release(removed)).catch(() => undefined).finally(finish);
    });
  }

  /** The config node's problem, in the flow node's words. */
  #invalid(handle: H): Error {
    const problem = handle.problem;
    const text = this.#RED._(`${MODULE}/${this.#kind.type}:${this.#kind.type}.errors.${problem?.key ?? "invalid-config"}`, problem?.params ?? {});
    return this.refuse(this.#kind.invalid, { error: text });
  }

  #refused(reason: Error, statusKey: string, fill: "red" | "yellow" = "red"): void {
    this.#unusable = reason;
    this.render({ fill, shape: "ring", key: statusKey });
    // Yellow is something not filled in yet, which the config node warns of once: an imported
    // example's flow nodes each logging an error would flood the debug sidebar.
    if (fill === "red") this.node.error(reason.message);
  }
}
