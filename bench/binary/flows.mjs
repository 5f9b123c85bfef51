// The flow of bench/binary-uplinks.mjs: an iot-broker with a Blynk binary-protocol port hosting
// 2 x DEVICES Blynk devices (local mode, pin table V1=Temperature), each with a blynk-device-in
// on `Temperature`. The first DEVICES log in over the binary protocol, the other DEVICES (the same
// settings) over MQTT; each set feeds its own bench-count node.

export const DEVICES = 100;
/** Sequence numbers ride in the value as SEQ0 + i (6 characters, like a sensor value). */
export const SEQ0 = 100_000;

const pad = (i) => String(i).padStart(3, "0");
/** 32 characters, as Blynk's. */
export const binaryToken = (i) => `BinaryBenchTok${pad(i)}_0123456789abc`;
export const mqttToken = (i) => `MqttBenchTokenA${pad(i)}_0123456789ab`;

const seq = (msg) => Number(msg.payload) - SEQ0;
export const SIDES = {
  binary: { counter: "c-binary", seq },
  mqtt: { counter: "c-mqtt", seq },
};

const TAB = "binaryBenchTab01";
let y = 0;
const onTab = (node) => ({ z: TAB, x: 200, y: (y += 20), wires: [], ...node });

/** The flow and its credentials for a broker with its MQTT port on `port` and its Blynk port on `blynkPort`. */
export function uplinkFlow(port, blynkPort) {
  const flow = [
    { id: TAB, type: "tab", label: "binary bench" },
    // deviceRateLimit "0": no per-device limit (Blynk 50/s over MQTT, the legacy 100/s quota over the binary protocol), so this measures speed.
    onTab({ id: "b1", type: "iot-broker", name: "binary bench broker", port: String(port), blynkPort: String(blynkPort), bind: "127.0.0.1", allowAnonymous: false, deviceRateLimit: "0", persistence: "memory", wires: [[]] }),
  ];
  const credentials = {};
  for (const id of Object.values(SIDES).map((s) => s.counter)) flow.push(onTab({ id, type: "bench-count", name: id }));
  for (const [side, token] of [["binary", binaryToken], ["mqtt", mqttToken]]) {
    for (let i = 0; i < DEVICES; i++) {
      const id = `${side.slice(0, 3)}${pad(i)}`;
      flow.push({ id, type: "blynk-device", name: `${side} ${i}`, connection: "local", broker: "b1", pins: "V1=Temperature" });
      flow.push(onTab({ id: `in-${id}`, type: "blynk-device-in", device: id, datastream: "Temperature", system: false, sync: false, wires: [[SIDES[side].counter]] }));
      credentials[id] = { token: token(i) };
    }
  }
  return { flow, credentials, extra: { blynkPort } };
}
