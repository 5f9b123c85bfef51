import { createHash } from "node:crypto";
import type { Node, NodeAPI, NodeDef } from "node-red";
import { blynkHttpApi } from "./lib/blynk/http-api.js";
import { createBlynkLink, type BlynkLink, type BlynkLinkOptions } from "./lib/blynk/link.js";
import { BlynkConfigError, parseBlynkDevice, type BlynkDeviceProps } from "./lib/blynk/link-config.js";
import type { BlynkDeviceHandle } from "./lib/blynk/link-user.js";
import { httpAuthThrottle } from "./lib/transport/http-auth.js";
import { LinkUsers } from "./lib/transport/link-users.js";
import { tlsOptionsOf } from "./lib/transport/tls-config.js";
import { endKeptHosting } from "./lib/broker/hosting.js";
import { followDeploys } from "./lib/transport/parking.js";

interface BlynkDeviceDef extends NodeDef, Omit<BlynkDeviceProps, "name"> {
  /** Optional tls-config node id (cloud modes). */
  tls?: string;
}

interface BlynkCredentials {
  token?: string;
}

type BlynkDeviceNode = Node<BlynkCredentials> & { blynk?: BlynkDeviceHandle };

export = function (RED: NodeAPI): void {
  // Hosted devices (local mode) kept through a redeploy wait for the new flows to start.
  followDeploys(RED.events);
  // Where Blynk moved a device (downlink/redirect, HTTPS 308), by config node, mode, configured
  // server and token: kept in memory for as long as this runtime runs, so a new link starts there.
  const remembered = new Map<string, string>();
  // The self-hosted HTTPS API goes on Node-RED's HTTP server once per runtime (per httpNode app).
  const apiMountedOn = new WeakSet<object>();

  function mountHttpApi(): void {
    // RED.httpNode is undefined when Node-RED runs without HTTP nodes (httpNodeRoot: false).
    const app = RED.httpNode as typeof RED.httpNode | undefined;
    if (app === undefined || apiMountedOn.has(app)) return;
    apiMountedOn.add(app);
    app.use(blynkHttpApi({ authThrottle: httpAuthThrottle(app) }));
  }

  /** A cloud link with a tls-config node: its CA, client certificate and verification setting. */
  function withTls(options: BlynkLinkOptions, tlsId: string | undefined): BlynkLinkOptions {
    if (tlsId === undefined || tlsId === "" || options.connection === "local") return options;
    const tls = tlsOptionsOf(RED.nodes.getNode(tlsId));
    if (tls === undefined) throw new BlynkConfigError("tls-missing", { id: tlsId });
    return { ...options, mqtt: { ...options.mqtt, tls }, http: { ...options.http, tls } };
  }

  function BlynkDeviceNode(this: BlynkDeviceNode, config: BlynkDeviceDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    let options: BlynkLinkOptions | undefined;
    let problem: BlynkConfigError | undefined;

    const fail = (err: unknown): void => {
      problem = err instanceof BlynkConfigError ? err : new BlynkConfigError("invalid-config", { error: err instanceof Error ? err.message : String(err) });
      node.error(RED._(`blynk-device.errors.${problem.key}`, problem.params));
    };

    try {
      options = withTls(parseBlynkDevice(node.id, config, node.credentials), config.tls);
    } catch (err) {
      fail(err);
    }
    const memoryKey = options === undefined || options.connection === "local"
      ? undefined
      : [node.id, options.connection, options.server ?? "", createHash("sha256").update(options.token).digest("hex")].join("\u0000");

    const open = (settings: BlynkLinkOptions): BlynkLink | undefined => {
      const server = memoryKey === undefined ? undefined : remembered.get(memoryKey);
      let created: BlynkLink;
      try {
        created = createBlynkLink(server === undefined ? settings : { ...settings, server });
      } catch (err) {
        fail(err);
        return undefined;
      }
      created.on("warning", (text) => {
        node.warn(RED._("blynk-device.warnings.link", { warning: text }));
      });
      created.on("redirected", (moved) => {
        if (memoryKey !== undefined) remembered.set(memoryKey, created.server ?? moved.server);
        node.log(RED._("blynk-device.log.redirected", { server: moved.server }));
      });
      created.start();
      return created;
    };

    // Node-RED serves a hosted device (and its HTTPS API) whether or not flow nodes use it.
    const local = options?.connection === "local";
    if (local) mountHttpApi();
    const users = new LinkUsers<BlynkLink>(() => (options === undefined ? undefined : open(options)), { keepOpen: local && options !== undefined });

    const handle: BlynkDeviceHandle = {
      connection: options?.connection ?? "mqtt",
      deviceName: typeof config.name === "string" && config.name.trim() !== "" ? config.name.trim() : node.id,
      get problem() {
        return problem;
      },
      register: (userId) => (options === undefined ? undefined : users.register(userId)),
      deregister: (userId, removed) => users.deregister(userId, removed),
    };
    node.blynk = handle;

    node.on("close", (removed: boolean, done: () => void) => {
      void users.close().finally(() => {
        // A redeploy keeps a hosted device connected for the re-created node; a deleted node's goes now.
        if (removed) endKeptHosting(node.id);
        done();
      });
    });
  }

  RED.nodes.registerType<BlynkDeviceNode, BlynkDeviceDef, object, BlynkCredentials>("blynk-device", BlynkDeviceNode, {
    credentials: { token: { type: "password" } },
  });
};
