import type { Node, NodeAPI, NodeDef } from "node-red";
import { thingsBoardHttpApi } from "./lib/thingsboard/http-api.js";
import { createThingsBoardLink, type TbLink, type TbLinkOptions } from "./lib/thingsboard/link.js";
import { parseThingsBoardDevice, TbConfigError, type TbDeviceProps } from "./lib/thingsboard/link-config.js";
import type { TbDeviceHandle } from "./lib/thingsboard/link-user.js";
import { httpAuthThrottle } from "./lib/transport/http-auth.js";
import { LinkUsers } from "./lib/transport/link-users.js";
import type { MqttTlsOptions } from "./lib/transport/mqtt-session.js";
import { endKeptHosting } from "./lib/broker/hosting.js";
import { followDeploys } from "./lib/transport/parking.js";

interface TbDeviceDef extends NodeDef, Omit<TbDeviceProps, "name"> {
  tls?: string;
}

interface TbCredentials {
  token?: string;
  clientId?: string;
  username?: string;
  password?: string;
}

/** What the core tls-config node offers (05-tls.js). */
interface TlsConfigNode {
  addTLSOptions(options: MqttTlsOptions): MqttTlsOptions;
}

type TbDeviceNode = Node<TbCredentials> & { thingsboard?: TbDeviceHandle };

export = function (RED: NodeAPI): void {
  // Hosted devices (local mode) kept through a redeploy wait for the new flows to start.
  followDeploys(RED.events);
  // The self-hosted HTTP device API goes on Node-RED's HTTP server once per runtime (per httpNode app).
  const apiMountedOn = new WeakSet<object>();

  function mountHttpApi(): void {
    // RED.httpNode is undefined when Node-RED runs without HTTP nodes (httpNodeRoot: false).
    const app = RED.httpNode as typeof RED.httpNode | undefined;
    if (app === undefined || apiMountedOn.has(app)) return;
    apiMountedOn.add(app);
    app.use(thingsBoardHttpApi({ authThrottle: httpAuthThrottle(app) }));
  }

  function ThingsBoardDeviceNode(this: TbDeviceNode, config: TbDeviceDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    let options: TbLinkOptions | undefined;
    let problem: TbConfigError | undefined;

    const fail = (err: unknown): void => {
      problem = err instanceof TbConfigError ? err : new TbConfigError("invalid-config", { error: err instanceof Error ? err.message : String(err) });
      node.error(RED._(`thingsboard-device.errors.${problem.key}`, problem.params));
    };

    try {
      options = parseThingsBoardDevice(node.id, config, node.credentials);
      const tlsId = typeof config.tls === "string" ? config.tls.trim() : "";
      if (tlsId !== "" && options.connection !== "local") {
        const tlsNode = RED.nodes.getNode(tlsId) as Partial<TlsConfigNode> | null;
        if (typeof tlsNode?.addTLSOptions !== "function") throw new TbConfigError("tls-missing");
        options.tls = tlsNode.addTLSOptions({});
      }
    } catch (err) {
      options = undefined;
      fail(err);
    }

    let lastRefusal: string | undefined;
    const open = (settings: TbLinkOptions): TbLink | undefined => {
      let created: TbLink;
      try {
        created = createThingsBoardLink(settings);
      } catch (err) {
        fail(err);
        return undefined;
      }
      created.on("warning", (text) => {
        node.warn(RED._("thingsboard-device.warnings.link", { warning: text }));
      });
      created.on("status", (status) => {
        // A refusal is said once in the log (the status keeps showing it), not on every retry.
        if (status.state !== "auth-failed") return;
        const reason = status.reason ?? "";
        if (reason !== lastRefusal) node.warn(RED._("thingsboard-device.warnings.auth-failed", { reason }));
        lastRefusal = reason;
      });
      created.start();
      return created;
    };

    // Node-RED serves a hosted device (and its HTTP API) whether or not flow nodes use it.
    const local = options?.connection === "local";
    if (local) mountHttpApi();
    const users = new LinkUsers<TbLink>(() => (options === undefined ? undefined : open(options)), { keepOpen: local && options !== undefined });

    const handle: TbDeviceHandle = {
      connection: options?.connection ?? "mqtt",
      gateway: options?.gateway === true,
      deviceName: options?.name ?? node.id,
      get problem() {
        return problem;
      },
      register: (userId) => (options === undefined ? undefined : users.register(userId)),
      deregister: (userId, removed) => users.deregister(userId, removed),
    };
    node.thingsboard = handle;

    node.on("close", (removed: boolean, done: () => void) => {
      void users.close().finally(() => {
        // A redeploy keeps a hosted device connected for the re-created node; a deleted node's goes now.
        if (removed) endKeptHosting(node.id);
        done();
      });
    });
  }

  RED.nodes.registerType<TbDeviceNode, TbDeviceDef, object, TbCredentials>("thingsboard-device", ThingsBoardDeviceNode, {
    credentials: { token: { type: "password" }, clientId: { type: "text" }, username: { type: "text" }, password: { type: "password" } },
  });
};
