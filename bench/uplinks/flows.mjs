// The flow of bench/uplinks.mjs: an iot-broker node hosting DEVICES devices of each platform
// (local mode), each with its in-node (`blynk-device-in`, `thingsboard-telemetry`,
// `thingspeak-field` in subscribe mode), and as the baseline Node-RED's core `mqtt in` on the
// same broker, subscribed to the plain topics the generic user's clients publish. Every
// platform's in-nodes and every baseline feed one `bench-count` node per side.

export const DEVICES = 100;
/** Sequence numbers ride in the payload as SEQ0 + i (6 characters, like a sensor value). */
export const SEQ0 = 100_000;
export const USER = Object.freeze({ username: "uplink-bench", password: "uplink-bench-password-1" });
/**
 * ThingSpeak's hosted channels accept one update per update interval; the node's shortest is 1 s
 * (ThingSpeak's paid tier). The devices send one update per channel every TS_PERIOD_MS, a bit
 * over the interval so timer and scheduling jitter on a busy machine cannot make an update
 * early (the channel would refuse it: counted as lost).
 */
export const TS_INTERVAL_S = 1;
export const TS_PERIOD_MS = 1500;

const pad = (i) => String(i).padStart(3, "0");
export const blynkToken = (i) => `UplinkBlynkTok${pad(i)}_0123456789abcde`; // 32 characters, as Blynk's
export const tbToken = (i) => `UplinkTbToken${pad(i)}abcd`;
export const tsChannel = (i) => 900_000 + i;
export const tsCredentials = (i) => ({ clientId: `UplinkTsClient${pad(i)}`, username: `UplinkTsUser${pad(i)}`, password: `UplinkTsPass${pad(i)}_secret` });

/**
 * The sides: how a device publishes message `seq` (topic relative to the device, payload), how
 * the counter reads the number back, and the MQTT login of device `i`. `base` sides are the
 * same payloads from clients of the generic user on plain topics.
 */
const blynkPayload = (seq) => String(SEQ0 + seq);
const tbPayload = (seq) => `{"temperature":21.5,"humidity":40,"seq":${seq}}`;
const tsPayload = (seq) => `field1=${SEQ0 + seq}&field2=60`;
export const SIDES = {
  "blynk:ours": { counter: "c-blynk", login: (i) => ({ username: "device", password: blynkToken(i) }), topic: () => "ds/Temperature", payload: blynkPayload, seq: (msg) => Number(msg.payload) - SEQ0 },
  "blynk:base": { counter: "c-base-blynk", login: plain("blynk"), topic: (i) => `bench/up/blynk/${i}`, payload: blynkPayload, seq: (msg) => Number(msg.payload) - SEQ0 },
  "tb:ours": { counter: "c-tb", login: (i) => ({ username: tbToken(i) }), topic: () => "v1/devices/me/telemetry", payload: tbPayload, seq: (msg) => msg.payload?.seq ?? -1 },
  "tb:base": { counter: "c-base-tb", login: plain("tb"), topic: (i) => `bench/up/tb/${i}`, payload: tbPayload, seq: (msg) => msg.payload?.seq ?? -1 },
  "ts:ours": { counter: "c-ts", login: (i) => tsCredentials(i), topic: (i) => `channels/${tsChannel(i)}/publish`, payload: tsPayload, seq: (msg) => Number(msg.payload) - SEQ0, paced: true },
  "ts:base": { counter: "c-base-ts", login: plain("ts"), topic: (i) => `bench/up/ts/${i}`, payload: tsPayload, seq: (msg) => Number(/field1=(\d+)/.exec(String(msg.payload))?.[1]) - SEQ0, paced: true },
};
function plain(platform) {
  return (i) => ({ ...USER, clientId: `uplink-${platform}-${i}` });
}

const TAB = "uplinkBenchTab01";
let y = 0;
const onTab = (node) => ({ z: TAB, x: 200, y: (y += 20), wires: [], ...node });

/** The flow and its credentials for a broker on `port`. */
export function uplinkFlow(port) {
  const flow = [
    { id: TAB, type: "tab", label: "uplink bench" },
    // deviceRateLimit "0": no per-device publish limit, so this measures raw speed (the default
    // limits Blynk 50/s, ThingsBoard 100/s, ThingSpeak 8/s per device would cap each side).
    onTab({ id: "b1", type: "iot-broker", name: "uplink bench broker", port: String(port), bind: "127.0.0.1", allowAnonymous: false, deviceRateLimit: "0", wires: [[]] }),
    { id: "nr-sub", type: "mqtt-broker", name: "baseline subscriber", broker: "127.0.0.1", port: String(port), clientid: "", autoConnect: true, usetls: false, protocolVersion: "4", keepalive: "60", cleansession: true, autoUnsubscribe: true, birthTopic: "", closeTopic: "", willTopic: "" },
  ];
  const credentials = {
    b1: { users: JSON.stringify([{ ...USER, publish: ["#"], subscribe: ["#"] }]) },
    "nr-sub": { user: USER.username, password: USER.password },
  };
  for (const id of Object.values(SIDES).map((s) => s.counter)) flow.push(onTab({ id, type: "bench-count", name: id }));
  for (let i = 0; i < DEVICES; i++) {
    flow.push({ id: `bl${pad(i)}`, type: "blynk-device", name: `Blynk ${i}`, connection: "local", broker: "b1" });
    flow.push(onTab({ id: `ibl${pad(i)}`, type: "blynk-device-in", device: `bl${pad(i)}`, datastream: "Temperature", system: false, sync: false, wires: [["c-blynk"]] }));
    credentials[`bl${pad(i)}`] = { token: blynkToken(i) };
    flow.push({ id: `tb${pad(i)}`, type: "thingsboard-device", name: `TB ${i}`, connection: "local", broker: "b1" });
    flow.push(onTab({ id: `itb${pad(i)}`, type: "thingsboard-telemetry", device: `tb${pad(i)}`, wires: [["c-tb"]] }));
    credentials[`tb${pad(i)}`] = { token: tbToken(i) };
    flow.push({ id: `ts${pad(i)}`, type: "thingspeak-channel", name: `TS ${i}`, connection: "local", broker: "b1", channelId: String(tsChannel(i)), updateInterval: String(TS_INTERVAL_S), fieldNames: "1=Temperature" });
    flow.push(onTab({ id: `its${pad(i)}`, type: "thingspeak-field", channel: `ts${pad(i)}`, field: "1", mode: "subscribe", wires: [["c-ts"]] }));
    credentials[`ts${pad(i)}`] = tsCredentials(i);
  }
  const mqttIn = (id, topic, datatype, counter) => onTab({ id, type: "mqtt in", name: id, topic, qos: "0", datatype, broker: "nr-sub", nl: false, rap: true, rh: 0, inputs: 0, wires: [[counter]] });
  flow.push(mqttIn("in-base-blynk", "bench/up/blynk/+", "utf8", "c-base-blynk"));
  flow.push(mqttIn("in-base-tb", "bench/up/tb/+", "json", "c-base-tb"));
  flow.push(mqttIn("in-base-ts", "bench/up/ts/+", "utf8", "c-base-ts"));
  return { flow, credentials };
}
