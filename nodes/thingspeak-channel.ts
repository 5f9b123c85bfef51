import type { Node, NodeAPI, NodeDef } from "node-red";
import { createThingSpeakLink, type ThingSpeakLink, type ThingSpeakLinkOptions } from "./lib/thingspeak/link.js";
import { parseThingSpeakChannel, ThingSpeakConfigError, type ThingSpeakChannelProps } from "./lib/thingspeak/link-config.js";
import type { ThingSpeakChannelHandle } from "./lib/thingspeak/link-user.js";
import { thingSpeakRestApi } from "./lib/thingspeak/rest-api.js";
import { httpAuthThrottle } from "./lib/transport/http-auth.js";
import { LinkUsers } from "./lib/transport/link-users.js";
import { endKeptHosting } from "./lib/broker/hosting.js";
import { followDeploys } from "./lib/transport/parking.js";

interface ThingSpeakChannelDef extends NodeDef, Omit<ThingSpeakChannelProps, "name"> {}

interface ThingSpeakCredentials {
  clientId?: string;
  username?: string;
  password?: string;
  writeKey?: string;
  readKey?: string;
}

type ThingSpeakChannelNode = Node<ThingSpeakCredentials> & { thingspeak?: ThingSpeakChannelHandle };

export = function (RED: NodeAPI): void {
  // Hosted devices (local mode) kept through a redeploy wait for the new flows to start.
  followDeploys(RED.events);
  // The self-hosted REST API goes on Node-RED's HTTP server once per runtime (per httpNode app).
  const apiMountedOn = new WeakSet<object>();

  function mountRestApi(): void {
    // RED.httpNode is undefined when Node-RED runs without HTTP nodes (httpNodeRoot: false).
    const app = RED.httpNode as typeof RED.httpNode | undefined;
    if (app === undefined || apiMountedOn.has(app)) return;
    apiMountedOn.add(app);
    app.use(thingSpeakRestApi({ authThrottle: httpAuthThrottle(app) }));
  }

  function ThingSpeakChannelNode(this: ThingSpeakChannelNode, config: ThingSpeakChannelDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    let options: ThingSpeakLinkOptions | undefined;
    let problem: ThingSpeakConfigError | undefined;

    const fail = (err: unknown): void => {
      problem = err instanceof ThingSpeakConfigError ? err : new ThingSpeakConfigError("invalid-config", { error: err instanceof Error ? err.message : String(err) });
      node.error(RED._(`thingspeak-channel.errors.${problem.key}`, problem.params));
    };

    try {
      options = parseThingSpeakChannel(node.id, config, node.credentials);
    } catch (err) {
      fail(err);
    }

    const open = (settings: ThingSpeakLinkOptions): ThingSpeakLink | undefined => {
      let created: ThingSpeakLink;
      try {
        created = createThingSpeakLink(settings);
      } catch (err) {
        fail(err);
        return undefined;
      }
      created.on("warning", (text) => {
        node.warn(RED._("thingspeak-channel.warnings.link", { warning: text }));
      });
      created.on("kicked", (count) => {
        node.warn(RED._("thingspeak-channel.warnings.client-id-conflict", { count: String(count), server: settings.server ?? "" }));
      });
      created.start();
      return created;
    };

    // Node-RED serves a hosted channel (and its REST API) whether or not flow nodes use it.
    const local = options?.connection === "local";
    if (local) mountRestApi();
    const users = new LinkUsers<ThingSpeakLink>(() => (options === undefined ? undefined : open(options)), { keepOpen: local && options !== undefined });

    const handle: ThingSpeakChannelHandle = {
      connection: options?.connection ?? "mqtt",
      channelId: options?.channelId,
      writable: options !== undefined && (options.connection !== "rest" || options.writeKey !== undefined),
      deviceName: typeof config.name === "string" && config.name.trim() !== "" ? config.name.trim() : node.id,
      get problem() {
        return problem;
      },
      register: (userId) => (options === undefined ? undefined : users.register(userId)),
      deregister: (userId, removed) => users.deregister(userId, removed),
    };
    node.thingspeak = handle;

    node.on("close", (removed: boolean, done: () => void) => {
      void users.close().catch(() => undefined).finally(() => {
        // A redeploy keeps a hosted device connected for the re-created node; a deleted node's goes now.
        if (removed) endKeptHosting(node.id);
        done();
      });
    });
  }

  RED.nodes.registerType<ThingSpeakChannelNode, ThingSpeakChannelDef, object, ThingSpeakCredentials>("thingspeak-channel", ThingSpeakChannelNode, {
    credentials: {
      clientId: { type: "text" },
      username: { type: "text" },
      password: { type: "password" },
      writeKey: { type: "password" },
      readKey: { type: "password" },
    },
  });
};
