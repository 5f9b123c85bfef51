import type { NodeAPI } from "node-red";
import { mountDevicesAdmin, type DevicesAdminRED } from "./lib/node-red/devices-admin.js";
import { DevicesModel, type Update } from "./lib/node-red/devices-model.js";
import { onFlowsStarted } from "./lib/node-red/flows-started.js";
import type { NodeDefinition } from "./lib/node-red/history-devices.js";

/** The comms topic the sidebar listens on: what changed, at most every half second. */
const TOPIC = "iot-bridge/devices";

/**
 * The plugin `iot-bridge-devices`: the editor's "IoT devices" sidebar (its html beside this
 * file), its read model (lib/node-red/devices-model.ts), admin endpoints (devices-admin.ts) and
 * comms updates.
 */
export = function (RED: NodeAPI): void {
  // Typed without plugins in @types/node-red; Node-RED hands plugins this API (registry/lib/util.js).
  const plugins = (RED as unknown as { plugins?: { registerPlugin(id: string, definition: object): void } }).plugins;
  plugins?.registerPlugin("iot-bridge-devices", { type: "iot-bridge-devices" });
  // One model per runtime (its events), routes once per admin app: test runtimes load this file again.
  const events = RED.events as unknown as object;
  let model = models.get(events);
  if (model === undefined) {
    model = newModel(RED);
    models.set(events, model);
  }
  const app = RED.httpAdmin as unknown as object | undefined;
  if (app !== undefined && !mounted.has(app)) {
    mounted.add(app);
    mountDevicesAdmin(RED as unknown as DevicesAdminRED, model);
  }
};

const models = new WeakMap<object, DevicesModel>();
const mounted = new WeakSet<object>();

function newModel(RED: NodeAPI): DevicesModel {
  const model = new DevicesModel({
    eachNode: (visit) => {
      RED.nodes.eachNode((def) => {
        visit(def as unknown as NodeDefinition);
      });
    },
    publish: (update: Update) => {
      RED.comms.publish(TOPIC, update, false);
    },
  });
  onFlowsStarted(RED, () => {
    model.follow();
  });
  return model;
}
