// The one flow the platform benchmark deploys: an iot-broker node hosting two Blynk devices and
// two ThingsBoard devices (local mode), Node-RED as a Blynk device and as those ThingsBoard devices over TCP
// (mqtt mode), Node-RED's core mqtt nodes on the same broker as the baseline, and counters.
//
// Every measured pair ("side") is a writer node the harness feeds with node.receive() and a
// place where deliveries are counted: a `bench-count` node in this runtime, or a device (an
// MQTT.js client in bench/platforms/device-child.mjs).

/** Sequence numbers ride in the payload as SEQ0 + i: every Blynk value is 6 characters. */
export const SEQ0 = 100_000;

/** The broker's one generic user (the core mqtt nodes and the baseline device log in with it). */
export const USER = Object.freeze({ username: "bench", password: "bench-password-1" });
export const TOKENS = Object.freeze({
  blynkA: "PlatBenchTokA_0123456789abcdefgh", // hosted; Node-RED connects as it in mqtt mode (issue 3a)
  blynkB: "PlatBenchTokB_0123456789abcdefgh", // hosted; the MQTT.js device logs in with it (issue 3b)
  tb: "PlatBenchTbTOKEN0123",
  tbQos1: "PlatBenchTbQOS1TOK01", // a second hosted device: the same measurement at QoS 1 (the shipped default)
});

/** The topics the baselines publish (the same as the platform nodes put on the wire / deliver). */
export const TOPICS = Object.freeze({
  blynkUplink: "ds/Temperature",
  blynkDownlink: "downlink/ds/Temperature",
  tbTelemetry: "v1/devices/me/telemetry",
});

const blynkMsg = (i) => ({ payload: SEQ0 + i });
const blynkSeq = (msg) => Number(msg.payload) - SEQ0;
const tbMsg = (i) => ({ payload: { temperature: 21.5, humidity: 40, seq: i } });
const tbSeq = (msg) => (msg.payload !== null && typeof msg.payload === "object" ? msg.payload.seq : -1);

/**
 * Each side: the writer node id, how to build message i, and where it is counted: `sink` (a
 * bench-count node here; `seq` reads the number back) or `device` (a client of the device child).
 */
export const SIDES = {
  "blynk-mqtt:ours": { writer: "w-blynk-mqtt", msg: blynkMsg, sink: "c-blynk-in", seq: blynkSeq },
  "blynk-mqtt:base": { writer: "w-mqtt-ds", msg: blynkMsg, sink: "c-mqtt-ds", seq: blynkSeq },
  "blynk-local:ours": { writer: "w-blynk-local", msg: blynkMsg, device: "blynk" },
  "blynk-local:base": { writer: "w-mqtt-down", msg: blynkMsg, device: "plain" },
  "tb:ours": { writer: "w-tb", msg: tbMsg, sink: "c-tb", seq: tbSeq },
  "tb:ours-qos1": { writer: "w-tb1", msg: tbMsg, sink: "c-tb1", seq: tbSeq },
  "tb:base": { writer: "w-mqtt-tb0", msg: tbMsg, sink: "c-mqtt-tb", seq: tbSeq },
  "tb:base-qos1": { writer: "w-mqtt-tb1", msg: tbMsg, sink: "c-mqtt-tb", seq: tbSeq },
};

const TAB = "bench0tab0000001";
let y = 0;
const onTab = (node) => ({ z: TAB, x: 200, y: (y += 40), wires: [], ...node });
const counter = (id) => onTab({ id, type: "bench-count", name: id });

/** The flow and its credentials for a broker on `port`. */
export function benchFlow(port) {
  const url = `mqtt://127.0.0.1:${port}`;
  const mqttBroker = (id, name) => ({
    id, type: "mqtt-broker", name, broker: "127.0.0.1", port: String(port), clientid: "", autoConnect: true, usetls: false,
    protocolVersion: "4", keepalive: "60", cleansession: true, autoUnsubscribe: true,
    birthTopic: "", closeTopic: "", willTopic: "",
  });
  const mqttOut = (id, topic, qos) => onTab({ id, type: "mqtt out", name: id, topic, qos: String(qos), retain: "false", broker: "nr-pub" });
  const mqttIn = (id, topic, datatype, sink) => onTab({ id, type: "mqtt in", name: id, topic, qos: "0", datatype, broker: "nr-sub", nl: false, rap: true, rh: 0, inputs: 0, wires: [[sink]] });
  const flow = [
    { id: TAB, type: "tab", label: "platform bench" },
    // deviceRateLimit "0": hosted devices get no per-device publish limit (by default Blynk 50/s,
    // ThingsBoard 100/s), so this measures raw speed; with the defaults ours would drop ~98%.
    onTab({ id: "b1", type: "iot-broker", name: "bench broker", port: String(port), bind: "127.0.0.1", allowAnonymous: false, deviceRateLimit: "0", wires: [[]] }),

    // Issue 3a: Node-RED as Blynk device A over TCP; the flow that hosts A counts what arrives.
    { id: "blynkHostedA", type: "blynk-device", name: "Hosted A", connection: "local", broker: "b1" },
    onTab({ id: "in-blynk-a", type: "blynk-device-in", device: "blynkHostedA", datastream: "Temperature", system: false, sync: false, wires: [["c-blynk-in"]] }),
    counter("c-blynk-in"),
    { id: "blynkDevA", type: "blynk-device", name: "Device A", connection: "mqtt", server: url },
    onTab({ id: "w-blynk-mqtt", type: "blynk-write", device: "blynkDevA", datastream: "Temperature" }),

    // Issue 3b: Node-RED writes to hosted device B in-process; the MQTT.js device B counts.
    { id: "blynkHostedB", type: "blynk-device", name: "Hosted B", connection: "local", broker: "b1" },
    onTab({ id: "w-blynk-local", type: "blynk-write", device: "blynkHostedB", datastream: "Temperature" }),

    // Issue 4: Node-RED as the ThingsBoard device over TCP; the hosting flow counts telemetry.
    { id: "tbHosted", type: "thingsboard-device", name: "Hosted TB", connection: "local", broker: "b1" },
    onTab({ id: "in-tb", type: "thingsboard-telemetry", device: "tbHosted", wires: [["c-tb"]] }),
    counter("c-tb"),
    // qos "0": fire-and-forget like the baseline's mqtt out at QoS 0 (the device's default is "1").
    { id: "tbDev", type: "thingsboard-device", name: "TB device", connection: "mqtt", server: url, qos: "0" },
    onTab({ id: "w-tb", type: "thingsboard-telemetry", device: "tbDev" }),
    // The same at the default QoS 1 (done() = PUBACK), on its own hosted device: the diagnostic.
    { id: "tbHosted1", type: "thingsboard-device", name: "Hosted TB (QoS 1)", connection: "local", broker: "b1" },
    onTab({ id: "in-tb1", type: "thingsboard-telemetry", device: "tbHosted1", wires: [["c-tb1"]] }),
    counter("c-tb1"),
    { id: "tbDev1", type: "thingsboard-device", name: "TB device (QoS 1)", connection: "mqtt", server: url, qos: "1" },
    onTab({ id: "w-tb1", type: "thingsboard-telemetry", device: "tbDev1" }),

    // Baselines: core mqtt out on one connection, core mqtt in on another (as ours: one TCP
    // client publishes, the receiving side is separate).
    mqttBroker("nr-pub", "baseline publisher"),
    mqttBroker("nr-sub", "baseline subscriber"),
    mqttOut("w-mqtt-ds", TOPICS.blynkUplink, 0),
    mqttIn("in-mqtt-ds", TOPICS.blynkUplink, "utf8", "c-mqtt-ds"),
    counter("c-mqtt-ds"),
    mqttOut("w-mqtt-down", TOPICS.blynkDownlink, 0),
    mqttOut("w-mqtt-tb0", TOPICS.tbTelemetry, 0),
    mqttOut("w-mqtt-tb1", TOPICS.tbTelemetry, 1),
    mqttIn("in-mqtt-tb", TOPICS.tbTelemetry, "json", "c-mqtt-tb"),
    counter("c-mqtt-tb"),
  ];
  const users = [{ ...USER, publish: ["#"], subscribe: ["#"] }];
  const credentials = {
    b1: { users: JSON.stringify(users) },
    blynkHostedA: { token: TOKENS.blynkA },
    blynkDevA: { token: TOKENS.blynkA },
    blynkHostedB: { token: TOKENS.blynkB },
    tbHosted: { token: TOKENS.tb },
    tbDev: { token: TOKENS.tb },
    tbHosted1: { token: TOKENS.tbQos1 },
    tbDev1: { token: TOKENS.tbQos1 },
    "nr-pub": { user: USER.username, password: USER.password },
    "nr-sub": { user: USER.username, password: USER.password },
  };
  return { flow, credentials };
}

/** The counting node, written into the temporary userDir's nodes/ folder (Node-RED loads it from there). */
export const COUNTER_NODE_JS = `"use strict";
module.exports = function (RED) {
  function BenchCount(config) {
    RED.nodes.createNode(this, config);
    this.onMessage = undefined;
    this.on("input", (msg, _send, done) => {
      if (this.onMessage !== undefined) this.onMessage(msg);
      done();
    });
  }
  RED.nodes.registerType("bench-count", BenchCount);
};
`;
export const COUNTER_NODE_HTML = `<script type="text/javascript">
RED.nodes.registerType("bench-count", { category: "common", defaults: { name: { value: "" } }, inputs: 1, outputs: 0, label: function () { return this.name || "bench-count"; } });
</script>
`;
