import { createHash } from "node:crypto";
import type { Node, NodeAPI, NodeDef } from "node-red";
import { blynkHttpApi } from "./lib/blynk/http-api.js";
import { blynkLegacyHttpApi } from "./lib/blynk/legacy-http-api.js";
import { blynkOtaFiles } from "./lib/blynk/ota.js";
import { createBlynkLink, type BlynkLink, type BlynkLinkOptions } from "./lib/blynk/link.js";
import { parseBlynkDevice, type BlynkDeviceProps } from "./lib/blynk/link-config.js";
import type { BlynkDeviceHandle } from "./lib/blynk/link-user.js";
import { ConfigError } from "./lib/transport/link-config.js";
import { tlsOptionsOf } from "./lib/transport/tls-config.js";
import { ConfigNodeLinks, hostingRuntime } from "./lib/node-red/config-node.js";
import { mountFleetAdmin } from "./lib/node-red/fleet-admin.js";
import { fleetSecretBox } from "./lib/node-red/fleet-secret.js";
import { localAnswer, mountTestConnection, outcomeAnswer, TEST_TIMEOUT_MS, whereOf } from "./lib/node-red/test-connection.js";
import { hostedByToken } from "./lib/blynk/emulation.js";
import { probeLink } from "./lib/transport/link-probe.js";

interface BlynkDeviceDef extends NodeDef, Omit<BlynkDeviceProps, "name"> {
  /** Optional tls-config node id (cloud modes). */
  tls?: string;
}

interface BlynkCredentials {
  token?: string;
}

type BlynkDeviceNode = Node<BlynkCredentials> & { blynk?: BlynkDeviceHandle };

export = function (RED: NodeAPI): void {
  // The editor's fleet table (docs/ARCHITECTURE.md 3.8).
  mountFleetAdmin(RED, "blynk-device");
  // The HTTPS device API (/external/api/...), then the legacy server's API at the root (/<token>/...).
  // Firmware files flows ship to hosted devices come first: their path is below no token (ota.ts).
  const mountHttpApi = hostingRuntime(RED, (app, authThrottle) => app.use(blynkOtaFiles(), blynkHttpApi({ authThrottle }), blynkLegacyHttpApi({ authThrottle })));
  /** Where Node-RED's HTTP nodes are served, for firmware URLs when the device sets no download address. */
  const settings = RED.settings as { uiPort?: unknown; httpNodeRoot?: unknown; https?: unknown };
  const httpServed = {
    scheme: settings.https !== undefined && settings.https !== null && settings.https !== false ? ("https" as const) : ("http" as const),
    port: typeof settings.uiPort === "number" ? settings.uiPort : Number(settings.uiPort ?? 1880) || 1880,
    root: typeof settings.httpNodeRoot === "string" ? settings.httpNodeRoot : "/",
  };
  // Where Blynk moved a device (downlink/redirect, HTTPS 308), by config node, mode, configured
  // server and token: kept in memory for as long as this runtime runs, so a new link starts there.
  const remembered = new Map<string, string>();
  const memoryKeyOf = (id: string, options: BlynkLinkOptions): string | undefined =>
    options.connection === "local" ? undefined : [id, options.connection, options.server ?? "", createHash("sha256").update(options.token).digest("hex")].join("\u0000");

  /** A cloud link with a tls-config node: its CA, client certificate and verification setting. */
  function withTls(options: BlynkLinkOptions, tlsId: string | undefined): BlynkLinkOptions {
    if (tlsId === undefined || tlsId === "" || options.connection === "local") return options;
    const tls = tlsOptionsOf(RED.nodes.getNode(tlsId));
    if (tls === undefined) throw new ConfigError("tls-missing", { id: tlsId });
    return { ...options, mqtt: { ...options.mqtt, tls }, http: { ...options.http, tls }, binary: { ...options.binary, tls } };
  }

  // The editor's "Test connection" button: the dialog's settings tried once, deployed or not.
  mountTestConnection(RED, "blynk-device", {
    credentials: ["token"],
    secrets: ["token"],
    run: async ({ id, config, credentials }, words) => {
      const options = withTls(parseBlynkDevice(id, config, credentials), typeof config.tls === "string" ? config.tls : undefined);
      if (options.connection === "local") {
        return localAnswer(RED, options.broker ?? "", () => {
          const holder = hostedByToken(options.token);
          return holder === undefined ? undefined : holder.device.id === id ? { self: true } : { self: false, name: holder.device.name };
        }, words, options.fleet !== undefined);
      }
      // No retries: a 429 or 5xx is said at once in its words, not waited out (Retry-After) into "no answer".
      const outcome = await probeLink(createBlynkLink({ ...options, http: { ...options.http, retries: 0 } }), { timeoutMs: TEST_TIMEOUT_MS });
      return outcomeAnswer(outcome, whereOf(options.server ?? ""), options.connection === "mqtt" ? "mqtt" : options.connection === "https" ? "http" : "other", words);
    },
  });

  function BlynkDeviceNode(this: BlynkDeviceNode, config: BlynkDeviceDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const links = new ConfigNodeLinks<BlynkLinkOptions, BlynkLink>(RED, node, {
      type: "blynk-device",
      parse: () => {
        const options = withTls(parseBlynkDevice(node.id, config, node.credentials), config.tls);
        // A fleet's credentials are sealed under Node-RED's credential secret (docs/ARCHITECTURE.md 3.8).
        const withFleet = options.fleet === undefined ? options : { ...options, fleet: { box: fleetSecretBox(RED) } };
        return withFleet.connection === "local" ? { ...withFleet, ota: { ...httpServed, ...withFleet.ota } } : withFleet;
      },
      create: (settings) => {
        const key = memoryKeyOf(node.id, settings);
        const server = key === undefined ? undefined : remembered.get(key);
        return createBlynkLink(server === undefined ? settings : { ...settings, server });
      },
      created: (link, settings) => {
        link.on("redirected", (moved) => {
          const key = memoryKeyOf(node.id, settings);
          if (key !== undefined) remembered.set(key, link.server ?? moved.server);
          node.log(RED._("blynk-device.log.redirected", { server: moved.server }));
        });
      },
      mount: mountHttpApi,
    });
    node.blynk = links.handle(typeof config.name === "string" && config.name.trim() !== "" ? config.name.trim() : node.id, {
      connection: links.options?.connection ?? "mqtt",
      fleet: links.options?.fleet !== undefined,
    });
  }

  RED.nodes.registerType<BlynkDeviceNode, BlynkDeviceDef, object, BlynkCredentials>("blynk-device", BlynkDeviceNode, {
    credentials: { token: { type: "password" } },
  });
};
