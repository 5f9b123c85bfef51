import type { Node, NodeAPI, NodeDef } from "node-red";
import { createThingSpeakLink, type ThingSpeakLink, type ThingSpeakLinkOptions } from "./lib/thingspeak/link.js";
import { parseThingSpeakChannel, type ThingSpeakChannelProps } from "./lib/thingspeak/link-config.js";
import type { ThingSpeakChannelHandle } from "./lib/thingspeak/link-user.js";
import { thingSpeakRestApi } from "./lib/thingspeak/rest-api.js";
import { deviceChannelsOf } from "./lib/thingspeak/emulation.js";
import { ConfigNodeLinks, hostingRuntime } from "./lib/node-red/config-node.js";

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
  function ThingSpeakChannelNode(this: ThingSpeakChannelNode, config: ThingSpeakChannelDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const links = new ConfigNodeLinks<ThingSpeakLinkOptions, ThingSpeakLink>(RED, node, {
      type: "thingspeak-channel",
      parse: () => parseThingSpeakChannel(node.id, config, node.credentials),
      create: createThingSpeakLink,
      created: (link, settings) => {
        link.on("kicked", (count) => {
          node.warn(RED._("thingspeak-channel.warnings.client-id-conflict", { count: String(count), server: settings.server ?? "" }));
        });
        link.on("conflict", (why) => {
          node.warn(RED._(`thingspeak-channel.warnings.${why}-conflict`, { server: settings.server ?? "" }));
        });
      },
      mount: mountRestApi,
    });
    const options = links.options;
    node.thingspeak = links.handle(typeof config.name === "string" && config.name.trim() !== "" ? config.name.trim() : node.id, {
      connection: options?.connection ?? "mqtt",
      channelId: options?.channelId,
      writable: options !== undefined && (options.connection !== "rest" || options.writeKey !== undefined),
    });
  }

  // Also follows redeploys for hosted channels; the REST API is mounted by the first local one.
  const mountRestApi = hostingRuntime(RED, (app, authThrottle) => app.use(thingSpeakRestApi({ authThrottle })));

  // The editor's "one device, several channels" line: the deployed hosted channels of this channel's MQTT device (no secrets).
  RED.httpAdmin.get("/thingspeak-channel/device-channels", RED.auth.needsPermission("thingspeak-channel.read"), (req, res) => {
    res.set("Cache-Control", "no-store");
    const id: unknown = (req.query as Record<string, unknown>).channel;
    const channels = typeof id === "string" && id !== "" ? deviceChannelsOf(id) : undefined;
    res.json({ hosted: channels !== undefined, channels: channels ?? [] });
  });

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
