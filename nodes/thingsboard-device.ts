import type { Node, NodeAPI, NodeDef } from "node-red";
import { thingsBoardHttpApi } from "./lib/thingsboard/http-api.js";
import { createThingsBoardLink, type TbLink, type TbLinkOptions } from "./lib/thingsboard/link.js";
import { parseThingsBoardDevice, type TbDeviceProps } from "./lib/thingsboard/link-config.js";
import type { TbDeviceHandle } from "./lib/thingsboard/link-user.js";
import { ConfigError } from "./lib/transport/link-config.js";
import type { MqttTlsOptions } from "./lib/transport/mqtt-session.js";
import { ConfigNodeLinks, hostingRuntime } from "./lib/node-red/config-node.js";
import { fleetSecretBox } from "./lib/node-red/fleet-secret.js";

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
  const mountHttpApi = hostingRuntime(RED, (app, authThrottle) => app.use(thingsBoardHttpApi({ authThrottle })));

  function ThingsBoardDeviceNode(this: TbDeviceNode, config: TbDeviceDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    let lastRefusal: string | undefined;
    const links = new ConfigNodeLinks<TbLinkOptions, TbLink>(RED, node, {
      type: "thingsboard-device",
      parse: () => {
        const options = parseThingsBoardDevice(node.id, config, node.credentials);
        // A fleet's credentials are sealed under Node-RED's credential secret (docs/ARCHITECTURE.md 3.8).
        if (options.fleet !== undefined) return { ...options, fleet: { box: fleetSecretBox(RED) } };
        const tlsId = typeof config.tls === "string" ? config.tls.trim() : "";
        if (tlsId !== "" && options.connection !== "local") {
          const tlsNode = RED.nodes.getNode(tlsId) as Partial<TlsConfigNode> | null;
          if (typeof tlsNode?.addTLSOptions !== "function") throw new ConfigError("tls-missing");
          options.tls = tlsNode.addTLSOptions({});
        }
        return options;
      },
      create: createThingsBoardLink,
      created: (link) => {
        link.on("status", (status) => {
          // A refusal is said once in the log (the status keeps showing it), not on every retry.
          if (status.state !== "auth-failed") return;
          const reason = status.reason ?? "";
          if (reason !== lastRefusal) node.warn(RED._("thingsboard-device.warnings.auth-failed", { reason }));
          lastRefusal = reason;
        });
      },
      mount: mountHttpApi,
    });
    const options = links.options;
    node.thingsboard = links.handle(options?.name ?? node.id, {
      connection: options?.connection ?? "mqtt",
      gateway: options?.gateway === true,
      fleet: options?.fleet !== undefined,
    });
  }

  RED.nodes.registerType<TbDeviceNode, TbDeviceDef, object, TbCredentials>("thingsboard-device", ThingsBoardDeviceNode, {
    credentials: { token: { type: "password" }, clientId: { type: "text" }, username: { type: "text" }, password: { type: "password" } },
  });
};
