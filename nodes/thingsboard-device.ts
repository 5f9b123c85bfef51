import type { Node, NodeAPI, NodeDef } from "node-red";
import { thingsBoardHttpApi } from "./lib/thingsboard/http-api.js";
import { createThingsBoardLink, type TbLink, type TbLinkOptions } from "./lib/thingsboard/link.js";
import { parseProvisionProfile, parseThingsBoardDevice, type ProvisionProfileSettings, type TbDeviceProps } from "./lib/thingsboard/link-config.js";
import { hostProvisioning } from "./lib/thingsboard/provision-plugin.js";
import { ProvisionQuestions } from "./lib/thingsboard/provision-questions.js";
import { refusalDetail, type TbDeviceHandle } from "./lib/thingsboard/link-user.js";
import { ConfigError, settingText } from "./lib/transport/link-config.js";
import type { MqttTlsOptions } from "./lib/transport/mqtt-session.js";
import { ConfigNodeLinks, hostingRuntime } from "./lib/node-red/config-node.js";
import { mountFleetAdmin } from "./lib/node-red/fleet-admin.js";
import { credentialKeeper, settingsFingerprint } from "./lib/node-red/kept-credentials.js";
import type { ProvisionCredentials } from "./lib/thingsboard/codec.js";
import { fleetSecretBox } from "./lib/node-red/fleet-secret.js";
import { localAnswer, mountTestConnection, outcomeAnswer, TEST_TIMEOUT_MS, whereOf } from "./lib/node-red/test-connection.js";
import { hostedByToken } from "./lib/thingsboard/emulation.js";
import { DEFAULT_SERVERS } from "./lib/thingsboard/link-base.js";
import { probeLink } from "./lib/transport/link-probe.js";

interface TbDeviceDef extends NodeDef, Omit<TbDeviceProps, "name"> {
  tls?: string;
}

interface TbCredentials {
  token?: string;
  clientId?: string;
  username?: string;
  password?: string;
  provisionSecret?: string;
}

/** What the core tls-config node offers (05-tls.js). */
interface TlsConfigNode {
  addTLSOptions(options: MqttTlsOptions): MqttTlsOptions;
}

type TbDeviceNode = Node<TbCredentials> & { thingsboard?: TbDeviceHandle };

/** A kept record as provisioned credentials (anything else: nothing kept). */
function keptOf(value: unknown): Exclude<ProvisionCredentials, { credentialsType: "X509_CERTIFICATE" }> | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (v.credentialsType === "ACCESS_TOKEN" && typeof v.token === "string" && v.token !== "") return { credentialsType: "ACCESS_TOKEN", token: v.token };
  if (v.credentialsType !== "MQTT_BASIC") return undefined;
  const pick = (x: unknown): string | undefined => (typeof x === "string" && x !== "" ? x : undefined);
  const basic = { clientId: pick(v.clientId), username: pick(v.username), password: pick(v.password) };
  return { credentialsType: "MQTT_BASIC", ...Object.fromEntries(Object.entries(basic).filter(([, x]) => x !== undefined)) };
}

/** The node credential fields of provisioned credentials. */
function credentialFields(c: ProvisionCredentials): Record<string, string> {
  if (c.credentialsType === "ACCESS_TOKEN") return { token: c.token };
  if (c.credentialsType === "X509_CERTIFICATE") return {};
  return Object.fromEntries(Object.entries({ clientId: c.clientId, username: c.username, password: c.password }).filter((e): e is [string, string] => e[1] !== undefined));
}

export = function (RED: NodeAPI): void {
  // The editor's fleet table (docs/ARCHITECTURE.md 3.8).
  mountFleetAdmin(RED, "thingsboard-device");
  const mountHttpApi = hostingRuntime(RED, (app, authThrottle) => app.use(thingsBoardHttpApi({ authThrottle })));
  const keeper = credentialKeeper(RED);

  /** The node's credentials as they were asked for: kept provisioned credentials stand in for a missing token. */
  function withKept(node: TbDeviceNode, config: TbDeviceDef): { props: TbDeviceDef; credentials: TbCredentials | undefined; fingerprint: string } {
    const fingerprint = settingsFingerprint(settingText(config.server), config.name, settingText(config.provisionKey), settingText(config.provisionType));
    const given = node.credentials as TbCredentials | undefined;
    const provisioning = config.connection === "mqtt" && (config.provision === true || config.provision === "true");
    if (!provisioning || (given?.token ?? "") !== "" || config.auth === "basic") return { props: config, credentials: given, fingerprint };
    const kept = keptOf(keeper.read(node.id, fingerprint));
    if (kept === undefined) return { props: config, credentials: given, fingerprint };
    if (kept.credentialsType === "ACCESS_TOKEN") return { props: config, credentials: { ...given, token: kept.token }, fingerprint };
    return { props: { ...config, auth: "basic" }, credentials: { ...given, clientId: kept.clientId, username: kept.username, password: kept.password }, fingerprint };
  }

  /** A cloud link with a tls-config node (its id in `tls`): its CA, client certificate and verification. */
  function withTls(options: TbLinkOptions, tls: unknown): TbLinkOptions {
    const tlsId = typeof tls === "string" ? tls.trim() : "";
    if (tlsId === "" || options.connection === "local") return options;
    const tlsNode = RED.nodes.getNode(tlsId) as Partial<TlsConfigNode> | null;
    if (typeof tlsNode?.addTLSOptions !== "function") throw new ConfigError("tls-missing");
    options.tls = tlsNode.addTLSOptions({});
    return options;
  }

  // The editor's "Test connection" button: the dialog's settings tried once, deployed or not.
  mountTestConnection(RED, "thingsboard-device", {
    credentials: ["token", "clientId", "username", "password"],
    secrets: ["token", "password"],
    run: async ({ id, config, credentials }, words) => {
      const options = parseThingsBoardDevice(id, config, credentials);
      if (options.connection === "local") {
        return localAnswer(RED, options.broker ?? "", () => {
          const holder = hostedByToken(options.token);
          return holder === undefined ? undefined : holder.device.id === id ? { self: true } : { self: false, name: holder.device.name };
        }, words, options.fleet !== undefined);
      }
      const where = whereOf(options.server ?? DEFAULT_SERVERS[options.connection]);
      // Trying would provision a device: a device without credentials has nothing to test yet.
      if (options.provision !== undefined) return { ok: true, code: "provision", message: words("provision", { where }) };
      withTls(options, config.tls);
      // No retries: a 429 or 5xx is said at once in its words, not waited out (Retry-After) into "no answer".
      const link = createThingsBoardLink({ ...options, http: { ...options.http, retries: 0 } });
      // HTTP sends nothing decisive on start (its long polls wait): one attribute request proves the token.
      const outcome = await probeLink(link, { timeoutMs: TEST_TIMEOUT_MS, ...(options.connection === "http" ? { request: () => link.requestAttributes({}) } : {}) });
      return outcomeAnswer(outcome, where, options.connection, words);
    },
  });

  function ThingsBoardDeviceNode(this: TbDeviceNode, config: TbDeviceDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const links = new ConfigNodeLinks<TbLinkOptions, TbLink>(RED, node, {
      type: "thingsboard-device",
      parse: () => {
        const { props, credentials, fingerprint } = withKept(node, config);
        const options = parseThingsBoardDevice(node.id, props, credentials, (given) => {
          keeper.write(node.id, fingerprint, given, credentialFields(given));
          node.log(RED._("thingsboard-device.log.provisioned", { name: config.name || node.id, type: given.credentialsType }));
        });
        // A fleet's credentials are sealed under Node-RED's credential secret (docs/ARCHITECTURE.md 3.8).
        if (options.fleet !== undefined) return { ...options, fleet: { box: fleetSecretBox(RED) } };
        return withTls(options, config.tls);
      },
      create: createThingsBoardLink,
      // A refusal's warning names it in ThingsBoard's words (the code), as the status did before it was short.
      detail: (status, settings) => refusalDetail(status, settings.connection),
      mount: mountHttpApi,
    });
    const options = links.options;
    node.thingsboard = links.handle(options?.name ?? node.id, {
      connection: options?.connection ?? "mqtt",
      gateway: options?.gateway === true,
      fleet: options?.fleet !== undefined,
      ...(options?.fleet === undefined || options.broker === undefined ? {} : provisioningOf(node, config, options.broker)),
    });
  }

  /** A fleet that devices may join by provisioning (docs/PROTOCOLS.md 4.3): served while the node runs; its questions go to rpc serve nodes. */
  function provisioningOf(node: TbDeviceNode, config: TbDeviceDef, brokerId: string): { provisioning?: ProvisionQuestions } {
    let settings: ProvisionProfileSettings | undefined;
    try {
      settings = parseProvisionProfile(config, node.credentials);
    } catch (err) {
      // The fleet works without it: provisioning stays off, said once as a warning (not a red error).
      const problem = err instanceof ConfigError ? err : new ConfigError("invalid-config", { error: String(err) });
      node.warn(RED._("thingsboard-device.warnings.provisioning-off", { reason: RED._(`thingsboard-device.errors.${problem.key}`, problem.params) }));
      return {};
    }
    if (settings === undefined) return {};
    const questions = new ProvisionQuestions(settings.waitMs);
    const warn = (text: string): void => { node.warn(RED._("thingsboard-device.warnings.provisioning", { text })); };
    const unhost = hostProvisioning({
      fleetId: node.id, brokerId, key: settings.key, secret: settings.secret, strategy: settings.strategy,
      ask: (question) => questions.ask(question),
      report: warn,
    }, (err) => { warn(err instanceof Error ? err.message : String(err)); });
    node.on("close", () => {
      unhost();
      questions.close();
    });
    return { provisioning: questions };
  }

  RED.nodes.registerType<TbDeviceNode, TbDeviceDef, object, TbCredentials>("thingsboard-device", ThingsBoardDeviceNode, {
    credentials: {
      token: { type: "password" }, clientId: { type: "text" }, username: { type: "text" }, password: { type: "password" }, provisionSecret: { type: "password" },
    },
  });
};
