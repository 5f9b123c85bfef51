import { randomBytes } from "node:crypto";
import type { Node, NodeAPI, NodeDef } from "node-red";
import { engineStorageOptions, storageKey, type BrokerStorage, type StorageReporter } from "./lib/broker/broker-storage.js";
import { BrokerEngine, ListenError, brokers, type BrokerEvent, type ListenerConfig } from "./lib/broker/index.js";
import { LoginLog, type LoginLogLine } from "./lib/broker/login-log.js";
import { BrokerConfigError, parseBrokerNode, serialiseUsers, type BrokerNodeProps } from "./lib/broker/node-config.js";
import { MAX_PASSWORD_BYTES, PasswordCheckBusy, hashPassword } from "./lib/broker/password-hash.js";
import type { BrokerUser } from "./lib/broker/types.js";
import { brokerDigest, claimBroker, closeBroker, listenerPorts, parkBroker, type RunningBroker } from "./lib/broker/redeploy.js";
import { PortWait } from "./lib/broker/port-wait.js";
import { StoreError, openBrokerStorage } from "./lib/store/index.js";
import { followDeploys, isRedeploying } from "./lib/transport/parking.js";
import { tlsOptionsOf } from "./lib/transport/tls-config.js";

interface BrokerNodeDef extends NodeDef, BrokerNodeProps {
  tls?: string;
}

interface BrokerCredentials {
  users?: string;
  /** The password of the Redis server (persistence "redis"). */
  redisPassword?: string;
}

/** Least time between two statuses showing the number of clients. */
const CLIENTS_STATUS_MS = 250;

/** How often failed logins are summarised in the log (one line per source). */
const LOGIN_SUMMARY_MS = 60_000;

export = function (RED: NodeAPI): void {
  // Parked engines (redeploys) wait for the new flows to start, or go at once when Node-RED stops.
  followDeploys(RED.events);

  function IotBrokerNode(this: Node<BrokerCredentials>, config: BrokerNodeDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    let running: RunningBroker | undefined;
    let digest = "";
    let stopped = false;
    /** The engine started (a start on Redis waits while it cannot be reached). */
    let startedUp = false;
    /** Writing to the broker's database fails, or Redis cannot be reached (the status says so until it works again). */
    let storeFailure: Error | undefined;

    let shownClients: number | undefined;
    let latestClients = 0;
    let clientsTimer: NodeJS.Timeout | undefined;
    const showClients = (count: number): void => {
      shownClients = count;
      if (portWait.waiting > 0) {
        node.status({ fill: "red", shape: "ring", text: "iot-broker.status.port-busy" });
        return;
      }
      if (storeFailure !== undefined) {
        node.status(unreachable(storeFailure) ? { fill: "red", shape: "ring", text: "iot-broker.status.store-unavailable" } : { fill: "red", shape: "dot", text: "iot-broker.status.store-error" });
        return;
      }
      node.status({
        fill: "green",
        shape: "dot",
        text: count === 1 ? "iot-broker.status.client" : RED._("iot-broker.status.clients", { count }),
      });
    };
    /**
     * The engine's `clients` event (every connect and disconnect): the first change shows at once,
     * later ones within CLIENTS_STATUS_MS as one status with the latest count. Each status costs a
     * translation (~0.3 ms in i18next) and a message to the editor; a reconnect storm made that
     * per connection (bench/README.md).
     */
    const onClients = (count: number): void => {
      latestClients = count;
      if (clientsTimer !== undefined) return;
      showClients(count);
      clientsTimer = setTimeout(() => {
        clientsTimer = undefined;
        if (!stopped && latestClients !== shownClients) onClients(latestClients);
      }, CLIENTS_STATUS_MS);
      clientsTimer.unref();
    };

    // A busy port: one warning, a short status, and the broker listens once it is free (port-wait.ts).
    const portWait = new PortWait({
      busy: (err) => {
        node.warn(RED._("iot-broker.log.port-busy", { port: String(err.port), bind: err.host ?? "" }));
        showClients(running?.engine.connectedClients ?? 0);
      },
      listening: (listener) => {
        if (running === undefined) return;
        node.log(RED._("iot-broker.log.listening", { what: running.engine.describe(listener) }));
        showClients(running.engine.connectedClients);
      },
      failed: (err, listener) => {
        const what = running?.engine.describe(listener) ?? "";
        fail(RED._("iot-broker.errors.listen-failed", { what, error: err instanceof Error ? err.message : String(err) }));
      },
    });
    // Test connection (nodes/lib/node-red/test-connection.ts) tells a broker waiting for a busy port
    // from one that listens: its engine runs in both cases.
    (node as Node<BrokerCredentials> & { portsWaiting?: () => number }).portsWaiting = () => portWait.waiting;

    const fail = (message: string, statusText = "iot-broker.status.error"): void => {
      node.error(message);
      node.status({ fill: "red", shape: "ring", text: statusText });
    };

    const listenerConfigs = (settings: ReturnType<typeof parseBrokerNode>): ListenerConfig[] => {
      const listeners: ListenerConfig[] = [];
      const tcp = { host: settings.host, port: settings.port };
      const tlsOptions = (): Extract<ListenerConfig, { kind: "tls" }>["tls"] => {
        const tls = config.tls ? tlsOptionsOf(RED.nodes.getNode(config.tls)) : undefined;
        if (!tls?.key || !tls.cert) throw new BrokerConfigError(config.tls ? "tls-missing" : "blynk-tls-missing", {});
        // With a CA given and verification on, clients must present a certificate signed by it.
        const verifyClients = Boolean(tls.ca) && tls.rejectUnauthorized === true;
        return { ...tls, requestCert: verifyClients, rejectUnauthorized: verifyClients };
      };
      if (config.tls) {
        listeners.push({ kind: "tls", ...tcp, tls: tlsOptions() });
      } else {
        listeners.push({ kind: "tcp", ...tcp });
      }
      // Blynk's binary hardware protocol, served by the Blynk emulation (docs/ARCHITECTURE.md 3.7).
      if (settings.blynkPort !== undefined) listeners.push({ kind: "tcp", host: settings.host, port: settings.blynkPort, protocol: "blynk" });
      if (settings.blynkTlsPort !== undefined) listeners.push({ kind: "tls", host: settings.host, port: settings.blynkTlsPort, protocol: "blynk", tls: tlsOptions() });
      if (settings.wsPort !== undefined) listeners.push({ kind: "ws", host: settings.host, port: settings.wsPort });
      if (settings.wsPath !== undefined) {
        // RED.server is undefined when Node-RED runs without its HTTP server (typed as always present).
        const server = RED.server as typeof RED.server | undefined;
        if (!server) throw new BrokerConfigError("no-http-server", {});
        const root = RED.settings.httpNodeRoot;
        const base = typeof root === "string" ? root.replace(/\/+$/, "") : "";
        listeners.push({ kind: "ws-attach", server, path: base + settings.wsPath });
      }
      return listeners;
    };

    // Failed logins: the first from an address at once, then one summary line a minute per address.
    const logLogin = (line: LoginLogLine): void => {
      if (line.kind === "refused") {
        // No username when there was none, or when it may be a secret (an unclaimed one can be a token).
        const key = line.username === "" ? "iot-broker.log.auth-refused-unnamed" : "iot-broker.log.auth-refused";
        node.log(RED._(key, { client: line.clientId, user: line.username, address: line.address, reason: line.reason }));
      } else if (line.kind === "others") {
        node.warn(RED._("iot-broker.log.auth-others", { count: String(line.count) }));
      } else if (line.lockedForMs > 0) {
        node.warn(RED._("iot-broker.log.auth-locked", { count: String(line.count), address: line.address, reason: line.reason, seconds: String(Math.round(line.lockedForMs / 1000)) }));
      } else {
        node.log(RED._("iot-broker.log.auth-summary", { count: String(line.count), address: line.address, reason: line.reason }));
      }
    };
    const loginLog = new LoginLog(logLogin);
    // Connections an extra protocol (Blynk's binary one) closed: the first of each kind a minute is logged, in words.
    const protocolLogged = new Map<string, number>();
    const protocolLog = (event: Extract<BrokerEvent, { event: "protocol-closed" }>): void => {
      const now = Date.now();
      const last = protocolLogged.get(event.code);
      if (last !== undefined && now - last < LOGIN_SUMMARY_MS) return;
      if (protocolLogged.size > 100) protocolLogged.clear();
      protocolLogged.set(event.code, now);
      const key = `iot-broker.protocol.${event.code}`;
      const words = RED._(key, { reason: event.reason });
      node.log(RED._("iot-broker.log.protocol-closed", { protocol: event.protocol, client: event.clientId, what: words === key ? event.reason : words }));
    };
    const summaries = setInterval(() => {
      loginLog.flush();
    }, LOGIN_SUMMARY_MS);
    summaries.unref();

    // The storage outlives this node on a redeploy: each node instance is its reporter in turn.
    const reporter: StorageReporter = {
      failed: (err) => {
        storeFailure = err;
        // Redis away is an outage the broker rides out (a warning); a failing disk is an error.
        if (unreachable(err)) node.warn(RED._("iot-broker.log.store-unavailable", { error: err.message }));
        else node.error(RED._("iot-broker.errors.store-failed", { error: err.message }));
        showClients(running?.engine.connectedClients ?? 0);
      },
      recovered: () => {
        const was = storeFailure;
        storeFailure = undefined;
        node.log(was !== undefined && unreachable(was) ? RED._("iot-broker.log.store-available", { where: was.file }) : RED._("iot-broker.log.store-recovered"));
        showClients(running?.engine.connectedClients ?? 0);
      },
      badRow: (what) => {
        node.warn(RED._("iot-broker.log.store-bad-row", { what }));
      },
      problem: (err) => {
        node.warn(RED._("iot-broker.log.store-error", { error: err.message }));
      },
    };
    const attach = (storage: BrokerStorage): void => {
      storage.report(reporter);
      storeFailure = storage.failure();
    };

    const onEvent = (event: BrokerEvent): void => {
      loginLog.note(event);
      if (event.event === "protocol-closed") protocolLog(event);
      // Outages are logged by the storage's reporter; aedes' own persistence failures only come here.
      if (event.event === "store-error") node.warn(RED._("iot-broker.log.store-error", { error: event.error }));
      node.send({ topic: event.event, payload: event });
    };

    /**
     * Users given with a clear-text password (old or hand-written flows) are hashed and the
     * credential rewritten, so Node-RED stores only hashes from its next save (the next deploy).
     */
    const migrateClearPasswords = async (users: readonly BrokerUser[]): Promise<void> => {
      if (users.every((u) => u.hash !== undefined)) return;
      const hashed = await Promise.all(
        users.map(async (u): Promise<BrokerUser> => {
          if (u.hash !== undefined) return u;
          return { username: u.username, hash: await hashPassword(u.password ?? ""), publish: u.publish, subscribe: u.subscribe };
        }),
      );
      if (stopped) return; // replaced by a deploy meanwhile: its credentials are newer
      const credentials = { ...node.credentials, users: serialiseUsers(hashed) };
      node.credentials.users = credentials.users;
      await RED.nodes.addCredentials(node.id, credentials);
    };

    // Everything up to the listen() calls runs synchronously in the constructor, so the ports are
    // bound before the next node starts: MQTT clients in the same flow connect without a refusal.
    const start = (): Promise<void> => {
      node.status({ fill: "yellow", shape: "ring", text: "iot-broker.status.starting" });
      const settings = parseBrokerNode(config, node.credentials, { userDir: userDirOf(RED), nodeId: node.id });
      const listeners = listenerConfigs(settings);
      // Everything the engine is built from goes into the digest: same digest, same broker.
      digest = brokerDigest(settings, listeners);
      // Also for a kept broker: its credential may still hold clear-text passwords.
      migrateClearPasswords(settings.options.users ?? []).catch((err: unknown) => {
        node.warn(RED._("iot-broker.errors.migrate-failed", { error: err instanceof Error ? err.message : String(err) }));
      });
      const { adopted, storage: handed } = claimBroker(node.id, digest, listenerPorts(listeners), storageKey(settings.storage));
      if (adopted) {
        // A redeploy that left this broker as it was: its clients stay connected.
        running = adopted;
        attach(adopted.storage);
        // A deploy is how a user fixes a wrong password: lockouts from before it are forgotten.
        adopted.engine.forgetFailedLogins();
        adopted.engine.on("event", onEvent);
        adopted.engine.on("clients", onClients);
        node.log(RED._("iot-broker.log.kept"));
        showClients(adopted.engine.connectedClients);
        startedUp = true;
        return Promise.resolve();
      }
      // The storage of the engine this one replaces, or this node's own (opened once: a second
      // open of a database file in this process is refused). A StoreError names the file.
      let storage: BrokerStorage;
      if (handed) {
        handed.update(settings.storage);
        storage = handed;
      } else {
        storage = openBrokerStorage(settings.storage);
      }
      attach(storage);
      let started: BrokerEngine;
      try {
        // An id of its own for each engine (FINDINGS 3): aedes tells brokers apart by it.
        started = new BrokerEngine({ id: `node-red-${node.id}-${randomBytes(4).toString("hex")}`, ...settings.options, ...engineStorageOptions(storage) });
      } catch (err) {
        void storage.close();
        throw err;
      }
      running = { engine: started, storage, ports: listenerPorts(listeners) };
      started.on("event", onEvent);
      started.on("clients", onClients);
      const listening = listeners.map(async (listener) => {
        if (await portWait.listen(listener, () => started.listen(listener))) {
          node.log(RED._("iot-broker.log.listening", { what: started.describe(listener) }));
        }
      });
      return (async () => {
        const results = await Promise.allSettled([started.ready(), ...listening]);
        const failure = results.find((r) => r.status === "rejected");
        if (failure) throw failure.reason;
        startedUp = true;
        if (stopped) return;
        if (settings.options.allowAnonymous) {
          node.warn(RED._("iot-broker.log.anonymous-on", { what: listeners.map((l) => started.describe(l)).join(", ") }));
        }
        brokers.attach(node.id, started);
        showClients(started.connectedClients);
      })();
    };

    // The executor runs start() synchronously and turns a throw into a rejection.
    const starting = new Promise<void>((resolve) => {
      resolve(start());
    }).catch(async (err: unknown) => {
      if (stopped) {
        // Closed while it started (it waited for Redis): nothing to report.
      } else if (err instanceof BrokerConfigError) {
        fail(RED._(`iot-broker.errors.${err.key}`, err.params));
      } else if (err instanceof ListenError && err.code === "address-in-use") {
        fail(RED._("iot-broker.errors.port-in-use", { port: String(err.port), bind: err.host ?? "" }), "iot-broker.status.port-in-use");
      } else if (err instanceof StoreError) {
        // Stays stopped rather than running on memory: what it acknowledged would be lost at the next restart.
        fail(RED._("iot-broker.errors.store-unusable", { error: err.message }), "iot-broker.status.store-unusable");
      } else if (err instanceof ListenError) {
        fail(RED._("iot-broker.errors.listen-failed", { what: err.what, error: err.message }));
      } else {
        fail(RED._("iot-broker.errors.start-failed", { error: err instanceof Error ? err.message : String(err) }));
      }
      if (running) await closeBroker(node.id, running, { keepStorage: false });
      running = undefined;
    });

    node.on("close", (removed: boolean, done: () => void) => {
      stopped = true;
      // Whether a port was still awaited decides below: such an engine is not kept for the next deploy.
      const incomplete = portWait.waiting > 0;
      portWait.cancel();
      clearInterval(summaries);
      clearTimeout(clientsTimer);
      loginLog.flush();
      const finish = (): void => {
        node.status({});
        done();
      };
      // A start still waiting for its store (Redis cannot be reached) ends now rather than holding up the deploy.
      if (running?.storage.shared !== undefined && !startedUp) void running.engine.close();
      void starting
        .then(async () => {
          if (!running) return;
          running.engine.off("event", onEvent);
          running.engine.off("clients", onClients);
          if (!removed && isRedeploying() && !running.engine.closed && !incomplete) {
            // Re-created in a moment: the new node adopts the engine if its settings are the same.
            running.storage.report(undefined);
            parkBroker(node.id, digest, running);
            return;
          }
          const failure = await closeBroker(node.id, running, { keepStorage: false });
          running.storage.report(undefined);
          if (failure) throw failure;
          node.log(RED._("iot-broker.log.stopped"));
        })
        .catch((err: unknown) => {
          node.error(RED._("iot-broker.errors.stop-failed", { error: err instanceof Error ? err.message : String(err) }));
        })
        .finally(finish);
    });
  }

  registerPasswordHashing(RED);

  RED.nodes.registerType<Node<BrokerCredentials>, BrokerNodeDef, object, BrokerCredentials>("iot-broker", IotBrokerNode, {
    credentials: { users: { type: "text" }, redisPassword: { type: "password" } },
  });
};

/** The storage cannot reach its server (Redis), as opposed to failing to write. */
function unreachable(err: Error): err is StoreError {
  return err instanceof StoreError && err.code === "unavailable";
}

/** Node-RED's userDir (where the default database file goes); undefined in a runtime without one. */
function userDirOf(RED: NodeAPI): string | undefined {
  const dir = (RED.settings as { userDir?: unknown }).userDir;
  return typeof dir === "string" && dir !== "" ? dir : undefined;
}

/**
 * POST {password} -> {hash}: the editor hashes a newly typed broker password here, so the users
 * credential it deploys holds hashes only and no clear-text password lands in flows_cred.json.
 */
function registerPasswordHashing(RED: NodeAPI): void {
  RED.httpAdmin.post("/iot-broker/password-hash", RED.auth.needsPermission("iot-broker.write"), (req, res) => {
    res.set("Cache-Control", "no-store");
    const password: unknown = (req.body as { password?: unknown } | undefined)?.password;
    if (typeof password !== "string" || password === "" || Buffer.byteLength(password) > MAX_PASSWORD_BYTES) {
      res.status(400).json({ error: `password must be a non-empty string of at most ${String(MAX_PASSWORD_BYTES)} bytes` });
      return;
    }
    hashPassword(password).then(
      (hash) => res.json({ hash }),
      (err: unknown) => {
        res.status(err instanceof PasswordCheckBusy ? 503 : 500).json({ error: err instanceof Error ? err.message : "hashing failed" });
      },
    );
  });
}
