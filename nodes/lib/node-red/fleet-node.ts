/**
 * The `blynk-fleet` and `thingsboard-fleet` nodes: one implementation, registered once per
 * platform (docs/ARCHITECTURE.md 3.8). Input: a control message (msg.topic `add`, `change`,
 * `remove`, `get`, `list`, `renew`) on the fleet of the selected config node; output 1 answers it
 * (the device with its credentials, so an automation can onboard; `list` without credentials);
 * output 2 emits the fleet's events (`added`, `changed`, `removed`, without credentials).
 * Node-RED glue: handed the node file's RED.
 */
import type { Node, NodeAPI, NodeDef, NodeMessageInFlow } from "node-red";
import { fleetOf, FleetError, isFleetAction, runFleetAction, type Fleet, type FleetDevice } from "../broker/index.js";
import { toError } from "../transport/errors.js";
import { describeValue, isPlainObject } from "../transport/value-codec.js";
import { onFlowsStarted } from "./flows-started.js";

export interface FleetNodeSpec {
  /** "blynk-fleet" | "thingsboard-fleet": also its catalog. */
  type: string;
  /** The config node type it controls. */
  configType: string;
  /** The msg property of the platform: "blynk" | "thingsboard" (msg.<platform>.device of events). */
  platform: string;
}

interface FleetNodeDef extends NodeDef {
  device?: string;
}

export function registerFleetNode(RED: NodeAPI, spec: FleetNodeSpec): void {
  const t = (key: string, params: Record<string, string> = {}): string => RED._(`${spec.type}.${key}`, params);

  function FleetNode(this: Node, config: FleetNodeDef): void {
    RED.nodes.createNode(this, config);
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the node, for the closures below (as every node file does)
    const node = this;
    const configId = typeof config.device === "string" ? config.device : "";
    const configNode = configId === "" ? null : RED.nodes.getNode(configId);
    let followed: Fleet | undefined;
    let stoppedAfterRunning = false;
    let unfollow: (() => void) | undefined;

    /** The fleet of the selected config node, or why there is none (an i18n'd text). */
    const fleetNow = (): Fleet | string => {
      if (configNode?.type !== spec.configType) return t("errors.no-device");
      const fleet = fleetOf(configId);
      if (fleet === undefined) return t("errors.not-fleet");
      return fleet;
    };

    const show = (): void => {
      const fleet = fleetNow();
      if (typeof fleet === "string") node.status({ fill: "red", shape: "ring", text: t("status.no-fleet") });
      // Yellow while the broker is still starting, red once it stopped after running.
      else if (!fleet.available) node.status({ fill: stoppedAfterRunning ? "red" : "yellow", shape: "ring", text: t("status.broker-stopped") });
      else node.status({ fill: "green", shape: "dot", text: t("status.devices", { count: String(fleet.size) }) });
    };

    /** Events of the fleet out of output 2; follows the fleet object of the config node (re-made on its redeploy). */
    const follow = (): void => {
      const fleet = fleetNow();
      if (typeof fleet === "string" || fleet === followed) return;
      unfollow?.();
      followed = fleet;
      const event = (topic: string) => (device: FleetDevice, before?: FleetDevice): void => {
        node.send([null, { topic, payload: { ...device }, [spec.platform]: { device: { name: device.name, id: device.id } }, ...(before === undefined || topic !== "changed" ? {} : { before: { ...before } }) }]);
        show();
      };
      const added = event("added");
      const changed = event("changed");
      const removed = event("removed");
      const loaded = (): void => { show(); };
      const unloaded = (): void => {
        stoppedAfterRunning = true;
        show();
      };
      fleet.on("added", added).on("changed", changed).on("removed", removed).on("loaded", loaded).on("unloaded", unloaded);
      unfollow = () => {
        fleet.off("added", added).off("changed", changed).off("removed", removed).off("loaded", loaded).off("unloaded", unloaded);
      };
    };

    // The config node's fleet is made when its link starts, which may be after this node.
    const onStarted = (): void => {
      follow();
      show();
    };
    const stopWaiting = onFlowsStarted(RED, onStarted);
    // Shown once the flows (and the broker among them) have started: not "stopped" while starting.
    follow();

    node.on("input", (msg: NodeMessageInFlow, send: (m: NodeMessageInFlow | (NodeMessageInFlow | null)[]) => void, done: (err?: Error) => void) => {
      const fleet = fleetNow();
      if (typeof fleet === "string") {
        done(new Error(fleet));
        return;
      }
      follow();
      const action: unknown = typeof msg.topic === "string" && msg.topic !== "" ? msg.topic.trim() : isPlainObject(msg.payload) ? msg.payload.action : undefined;
      if (!isFleetAction(action)) {
        done(new Error(t("errors.invalid-action", { got: describeValue(action) })));
        return;
      }
      runFleetAction(fleet, action, msg.payload).then(
        (answer) => {
          send([{ ...msg, topic: action, payload: Array.isArray(answer) ? answer.map((d) => ({ ...d })) : { ...answer } }, null]);
          show();
          done();
        },
        (err: unknown) => {
          const code = err instanceof FleetError ? err.code : "failed";
          done(new Error(t(`errors.${code}`, { error: toError(err).message })));
        },
      );
    });

    node.on("close", () => {
      stopWaiting();
      unfollow?.();
    });
  }

  RED.nodes.registerType(spec.type, FleetNode);
}
