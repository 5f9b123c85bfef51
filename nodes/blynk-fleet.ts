import type { NodeAPI } from "node-red";
import { registerFleetNode } from "./lib/node-red/fleet-node.js";

// Control of a fleet (docs/ARCHITECTURE.md 3.8): the implementation is shared with the other platform's fleet node.
export = function (RED: NodeAPI): void {
  registerFleetNode(RED, { type: "blynk-fleet", configType: "blynk-device", platform: "blynk" });
};
