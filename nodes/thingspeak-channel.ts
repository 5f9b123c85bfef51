import type { Node, NodeAPI, NodeDef } from "node-red";
import { createThingSpeakLink, type ThingSpeakLink, type ThingSpeakLinkOptions } from "./lib/thingspeak/link.js";
import { parseThingSpeakChannel, type ThingSpeakChannelProps } from "./lib/thingspeak/link-config.js";
import type { ThingSpeakChannelHandle } from "./lib/thingspeak/link-user.js";
import { thingSpeakRestApi } from "./lib/thingspeak/rest-api.js";
import { deviceChannelsOf, hostedChannelsByCredentials } from "./lib/thingspeak/emulation.js";
import { localAnswer, mountTestConnection, outcomeAnswer, TEST_TIMEOUT_MS, whereOf } from "./lib/node-red/test-connection.js";
import { probeLink } from "./lib/transport/link-probe.js";
import { DEFAULT_SERVERS } from "./lib/thingspeak/link-base.js";
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

  // The editor's "Test connection" button: the dialog's settings tried once, deployed or not.
  mountTestConnection(RED, "thingspeak-channel", {
    credentials: ["clientId", "username", "password", "writeKey", "readKey"],
    secrets: ["password", "writeKey", "readKey"],
    run: async ({ id, config, credentials }, words) => {
      const options = parseThingSpeakChannel(id, config, credentials);
      if (options.connection === "local") {
        return localAnswer(RED, options.broker ?? "", () => {
          const channels = hostedChannelsByCredentials(options.clientId ?? "", options.username ?? "", options.password ?? "");
          // One MQTT device may feed several channels: only this channel holding them counts as hosted.
          return channels.some((c) => c.id === id) ? { self: true } : undefined;
        }, words);
      }
      // No retries: a 429 or 5xx is said at once in its words, not waited out (Retry-After) into "no answer".
      // probe: its own MQTT session, so the deployed channel does not warn of a credentials conflict.
      const link = createThingSpeakLink({ ...options, probe: true, http: { ...options.http, retries: 0 } });
      const where = whereOf(options.server ?? DEFAULT_SERVERS[options.connection]);
      // REST sends nothing until asked: reading the newest entry proves the server and the read key.
      const outcome = await probeLink(link, { timeoutMs: TEST_TIMEOUT_MS, ...(options.connection === "rest" ? { request: () => link.readNew() } : {}) });
      const answer = outcomeAnswer(outcome, where, options.connection === "mqtt" ? "mqtt" : "http", words);
      // A write key is only checked by a write, which would add an entry to the channel.
      return answer.ok && options.connection === "rest" ? { ok: true, code: "read", message: words("read", { where }) } : answer;
    },
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
