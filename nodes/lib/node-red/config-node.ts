/**
 * The part every platform's config node (blynk-device, thingsboard-device, thingspeak-channel)
 * shares: its configuration problem said once in its own catalog's words, its link created on
 * demand (link warnings logged, link started) and shared by its users through LinkUsers, the
 * handle its flow nodes find, and on close the link ended (a hosted device's too when removed).
 * Node-RED glue like flow-node.ts: handed the node file's RED, imports only Node-RED's types.
 */
import type { Node, NodeAPI } from "node-red";
import { endKeptHosting } from "../broker/hosting.js";
import type { AuthThrottle } from "../transport/auth-throttle.js";
import { httpAuthThrottle } from "../transport/http-auth.js";
import { ConfigError } from "../transport/link-config.js";
import type { DeviceLinkStatus } from "../transport/device-link.js";
import { LinkProblems, LinkUsers, linkProblem, type ConfigProblem, type LinkOwner } from "../transport/link-users.js";
import { followDeploys } from "../transport/parking.js";

/** Config problems that are only something not filled in yet (flow-node.ts shows them yellow). */
const MISSING = new Set(["missing-token", "missing-credentials", "missing-mqtt-credentials", "missing-broker"]);

/**
 * Once per node file: hosted devices kept through a redeploy wait for the new flows to start,
 * and the returned function has `mount` put the platform's device API on Node-RED's HTTP server
 * (once per httpNode app, with its login throttle; nothing when Node-RED runs without HTTP nodes).
 */
export function hostingRuntime(RED: NodeAPI, mount: (app: NodeAPI["httpNode"], authThrottle: AuthThrottle) => void): () => void {
  followDeploys(RED.events);
  const mountedOn = new WeakSet<object>();
  return () => {
    // RED.httpNode is undefined when Node-RED runs without HTTP nodes (httpNodeRoot: false).
    const app = RED.httpNode as typeof RED.httpNode | undefined;
    if (app === undefined || mountedOn.has(app)) return;
    mountedOn.add(app);
    mount(app, httpAuthThrottle(app));
  };
}

/** What a config node needs of its link. */
interface StartableLink {
  on(event: "warning", listener: (text: string) => void): unknown;
  on(event: "status", listener: (status: DeviceLinkStatus) => void): unknown;
  start(): void;
  close(): Promise<void>;
}

export class ConfigNodeLinks<O extends { connection: string }, L extends StartableLink> {
  /** The parsed settings; undefined when they are unusable. */
  readonly options: O | undefined;
  readonly #RED: NodeAPI;
  readonly #node: Node;
  readonly #type: string;
  readonly #users: LinkUsers<L>;
  #problem: ConfigProblem | undefined;

  /**
   * `parse` reads the settings (throwing a ConfigError); `create` makes a link;
   * `created` adds the platform's own listeners. A local (hosted) link lives as long as the node,
   * after `mount` put the device API on Node-RED's HTTP server. What a status is about (a refusal,
   * an unreachable server, a device not hosted) is warned once per problem under
   * `<type>.warnings.<problem>`, its detail by `detail` (default: the status' reason).
   */
  constructor(RED: NodeAPI, node: Node, spec: {
    type: string;
    parse: () => O;
    create: (options: O) => L;
    created?: (link: L, options: O) => void;
    mount: () => void;
    detail?: (status: DeviceLinkStatus, options: O) => string;
  }) {
    this.#RED = RED;
    this.#node = node;
    this.#type = spec.type;
    let options: O | undefined;
    try {
      options = spec.parse();
    } catch (err) {
      this.#fail(err);
    }
    this.options = options;
    const open = (settings: O): L | undefined => {
      let created: L;
      try {
        created = spec.create(settings);
      } catch (err) {
        this.#fail(err);
        return undefined;
      }
      created.on("warning", (text) => {
        node.warn(RED._(`${spec.type}.warnings.link`, { warning: text }));
      });
      // The canvas status is short; its detail is said here, once per problem, not on every retry.
      const problems = new LinkProblems();
      created.on("status", (status) => {
        const problem = linkProblem(status, settings.connection === "local");
        if (!problems.note(problem, status.state === "connected") || problem === undefined) return;
        const reason = problem.key === "auth-failed" && spec.detail !== undefined ? spec.detail(status, settings) : problem.reason;
        node.warn(RED._(`${spec.type}.warnings.${problem.key}`, { reason }));
      });
      spec.created?.(created, settings);
      created.start();
      return created;
    };
    // Node-RED serves a hosted device (and its API) whether or not flow nodes use it.
    const local = options?.connection === "local";
    if (local) spec.mount();
    this.#users = new LinkUsers<L>(() => (options === undefined ? undefined : open(options)), { keepOpen: local && options !== undefined });
    node.on("close", (removed: boolean, done: () => void) => {
      void this.#users.close().catch(() => undefined).finally(() => {
        // A redeploy keeps a hosted device connected for the re-created node; a deleted node's goes now.
        if (removed) endKeptHosting(node.id);
        done();
      });
    });
  }

  /** The handle flow nodes find: `extra` (the platform's fields) and the shared LinkOwner part. */
  handle<X extends object>(deviceName: string, extra: X): X & LinkOwner<L> {
    const users = this.#users;
    const usable = this.options !== undefined;
    const owner: LinkOwner<L> = {
      deviceName,
      problem: undefined,
      register: (userId) => (usable ? users.register(userId) : undefined),
      deregister: (userId, removed) => users.deregister(userId, removed),
    };
    // Read afresh: opening the link may fail after the handle was given out.
    Object.defineProperty(owner, "problem", { enumerable: true, get: () => this.#problem });
    return Object.assign(owner, extra);
  }

  #fail(err: unknown): void {
    const problem = err instanceof ConfigError ? err : new ConfigError("invalid-config", { error: err instanceof Error ? err.message : String(err) });
    this.#problem = problem;
    const text = this.#RED._(`${this.#type}.errors.${problem.key}`, problem.params);
    // Credentials or a broker not filled in yet (an imported example) is a warning, said here once;
    // its flow nodes only show a yellow status (flow-node.ts).
    if (MISSING.has(problem.key)) this.#node.warn(text);
    else this.#node.error(text);
  }
}
