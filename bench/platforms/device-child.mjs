// The devices of bench/platforms.mjs, in a process of their own (as a real device would be):
// two MQTT.js clients on the iot-broker that count what they receive.
//   blynk  logs in as hosted Blynk device B (username "device", its token) and subscribes to
//          downlink/# as Blynk's device API says; it counts downlink/ds/Temperature.
//   plain  logs in as the broker's generic user and subscribes to downlink/ds/Temperature, the
//          topic the core `mqtt out` baseline publishes; it counts the same messages.
// Both subscribe at QoS 0 (the writes are QoS 0 either way).
import mqtt from "mqtt";
import { SEQ0, TOKENS, TOPICS, USER } from "./flows.mjs";
import { rpc, Tally } from "./rpc.mjs";

if (!process.send) throw new Error("started by bench/platforms.mjs only (it needs an IPC channel)");
const ep = rpc(process, "device child");
const url = process.argv[2];
const clients = {};
const counting = {};

const connect = (options) => mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 10_000, clean: true, ...options });
clients.blynk = await connect({ username: "device", password: TOKENS.blynkB, clientId: "", keepalive: 45 });
await clients.blynk.subscribeAsync("downlink/#", { qos: 0 });
clients.plain = await connect({ username: USER.username, password: USER.password, clientId: `bench-plain-${process.pid}` });
await clients.plain.subscribeAsync(TOPICS.blynkDownlink, { qos: 0 });
for (const [name, client] of Object.entries(clients)) {
  client.on("message", (topic, payload) => {
    if (topic === TOPICS.blynkDownlink) counting[name]?.deliver(Number(payload.toString()) - SEQ0);
  });
  client.on("error", (err) => console.error(`[device ${name}] ${err.message}`));
  client.on("close", () => {
    if (!closing) console.error(`[device ${name}] connection closed`);
  });
}

let closing = false;
const exit = async () => {
  if (closing) return;
  closing = true;
  setTimeout(() => process.exit(0), 3000).unref();
  await Promise.allSettled(Object.values(clients).map((c) => c.endAsync(true)));
  process.exit(0);
};
process.on("disconnect", exit);
process.on("SIGTERM", exit);

/** Starts counting n messages on a client; `result` then waits for them (or idleMs without progress). */
ep.handle("arm", ({ device, n, idleMs }) => {
  if (!clients[device]) throw new Error(`unknown device ${device}`);
  counting[device]?.finish("replaced");
  counting[device] = new Tally(n, { idleMs });
  return {};
});
ep.handle("result", async ({ device }) => {
  const tally = counting[device];
  if (!tally) throw new Error(`device ${device} is not counting`);
  const result = await tally.done;
  if (counting[device] === tally) delete counting[device];
  return result;
});
ep.handle("stop", ({ device }) => {
  counting[device]?.finish("stopped");
  return {};
});
ep.handle("close", () => {
  setImmediate(exit);
  return {};
});

process.send({ type: "ready" });
