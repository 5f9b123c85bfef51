// The ThingsBoard part of the `npm start` demo: a simulated ThingsBoard device (a
// `thingsboard-device` in cloud mode, exactly as Node-RED would talk to thingsboard.cloud) pointed
// at the demo broker, where a local-mode `thingsboard-device` hosts it with the same access token:
// telemetry, client and shared attributes, and server-side RPC between the two.
import { randomBytes } from "node:crypto";

const TAB = "b0d9e1a1c0de0200";
const id = (n) => `b0d9e1a1c0de${(0x200 + n).toString(16).padStart(4, "0")}`;

/** 20 random letters and digits, like the access tokens ThingsBoard generates (no modulo bias). */
function accessToken() {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  const limit = 256 - (256 % alphabet.length);
  let out = "";
  while (out.length < 20) {
    for (const byte of randomBytes(32)) {
      if (byte < limit && out.length < 20) out += alphabet[byte % alphabet.length];
    }
  }
  return out;
}

function fn(name, lines, outputs, x, y, wires) {
  return { type: "function", z: TAB, name, func: lines.join("\n"), outputs, timeout: 0, noerr: 0, initialize: "", finalize: "", libs: [], x, y, wires };
}

function debug(name, x, y, { sidebar = false, complete = "payload", targetType = "msg", status = "payload", statusType = "auto" } = {}) {
  return { type: "debug", z: TAB, name, active: true, tosidebar: sidebar, console: false, tostatus: true, complete, targetType, statusVal: status, statusType, x, y, wires: [] };
}

function inject(name, { repeat = "", once = false, onceDelay = 0.1, topic = "", payload = "", payloadType = "date", props } = {}, x, y, wires) {
  return {
    type: "inject",
    z: TAB,
    name,
    props: props ?? (topic ? [{ p: "payload" }, { p: "topic", vt: "str" }] : [{ p: "payload" }]),
    repeat,
    crontab: "",
    once,
    onceDelay,
    topic,
    payload,
    payloadType,
    x,
    y,
    wires,
  };
}

const comment = (name, x, y, info = "") => ({ type: "comment", z: TAB, name, info, x, y, wires: [] });

/** Flow nodes and credentials of the ThingsBoard demo tab, for the demo broker with id `brokerId` on `port`. */
export function thingsboardDemo({ port, brokerId }) {
  const ids = {
    info: id(1),
    hosted: id(2),
    simulated: id(3),
    deviceHeading: id(4),
    tick: id(5),
    sensors: id(6),
    deviceTelemetry: id(7),
    deviceServe: id(8),
    gpio: id(9),
    deviceAttributes: id(10),
    askShared: id(11),
    deviceShared: id(12),
    serverHeading: id(13),
    serverTelemetry: id(14),
    telemetryDebug: id(15),
    thermostat: id(16),
    serverAttributes: id(17),
    setTarget: id(18),
    clientDebug: id(19),
    rpcTick: id(20),
    toggle: id(21),
    getState: id(22),
    serverCall: id(23),
    answerDebug: id(24),
    catchRpc: id(25),
    rpcErrors: id(26),
  };
  // The device's access token, made once for this userDir; it lives only in flows_cred.json.
  const token = accessToken();
  const info = [
    "## ThingsBoard, fully self-hosted",
    "",
    "- **Thermostat (hosted)** is a `thingsboard-device` in *local* mode on the demo broker: Node-RED is the ThingsBoard server for a device with this access token.",
    "- **Thermostat (simulated firmware)** is a `thingsboard-device` in *mqtt* (cloud) mode pointed at the demo broker with the same token: it behaves exactly like ThingsBoard MQTT firmware (or Node-RED talking to thingsboard.cloud).",
    "",
    "What happens:",
    "",
    "- **Telemetry**: every 5 s the simulated device sends `temperature` and `humidity`; the server side receives them (*server: telemetry*).",
    "- **Shared attributes**: the server sets `targetTemperature` = 22 once, and a small thermostat switches the shared attribute `heating` (on below 21.5 °C, off above 22.5 °C). The simulated device receives both (*device: shared attributes*); on start it also asks for them, as ThingsBoard firmware does.",
    "- **Server-side RPC**: every 10 s the server calls `setGpio` with `{\"pin\":2,\"enabled\":true/false}`, toggling; the simulated device answers it (*device: RPC*) and reports the pin as the client attribute `gpio2`, which the server side sees (*server: client attributes*). *getState* asks the device for all its pins. Answers show in *device answered*.",
    "",
    `A real device running ThingsBoard's MQTT samples can do the same: host \`<this machine>\`, port ${port}, MQTT username = the access token (open the hosted device's config node to see or change it). HTTP devices use Node-RED's own port: \`POST http://<this machine>:<editor port>/api/v1/<token>/telemetry\`, and \`GET .../api/v1/<token>/attributes\` shows the client and shared attributes the server keeps.`,
  ].join("\n");

  const nodes = [
    { id: TAB, type: "tab", label: "ThingsBoard demo", disabled: false, info: `A simulated ThingsBoard device served by Node-RED itself.\n\n${info}`, env: [] },
    { id: ids.info, ...comment("ThingsBoard demo: what you see (click it, then read the Info sidebar)", 270, 40, info) },
    {
      id: ids.hosted,
      type: "thingsboard-device",
      name: "Thermostat (hosted)",
      connection: "local",
      server: "",
      broker: brokerId,
      gateway: false,
      auth: "token",
      tls: "",
    },
    {
      id: ids.simulated,
      type: "thingsboard-device",
      name: "Thermostat (simulated firmware)",
      connection: "mqtt",
      server: `mqtt://127.0.0.1:${port}`,
      broker: "",
      gateway: false,
      auth: "token",
      tls: "",
    },

    // --- the simulated device ---
    { id: ids.deviceHeading, ...comment("The simulated device (mqtt mode, like ThingsBoard firmware)", 250, 100) },
    { id: ids.tick, ...inject("every 5 s", { repeat: "5", once: true, onceDelay: "2" }, 130, 140, [[ids.sensors]]) },
    {
      id: ids.sensors,
      ...fn(
        "temperature and humidity",
        [
          "// A slow wave between about 20 and 24 °C, so the thermostat switches now and then.",
          "// One message per telemetry key: msg.topic is the key, msg.payload its value.",
          "const minutes = Date.now() / 60000;",
          "const temperature = Math.round((22 + 2 * Math.sin(minutes / 2)) * 10) / 10;",
          "const humidity = Math.round((45 + 5 * Math.cos(minutes / 3)) * 10) / 10;",
          "return [[{ topic: 'temperature', payload: temperature }, { topic: 'humidity', payload: humidity }]];",
        ],
        1,
        340,
        140,
        [[ids.deviceTelemetry]],
      ),
    },
    { id: ids.deviceTelemetry, type: "thingsboard-telemetry", z: TAB, name: "device: send telemetry", device: ids.simulated, subDevice: "", x: 580, y: 140, wires: [[]] },
    { id: ids.deviceServe, type: "thingsboard-rpc", z: TAB, name: "device: RPC", device: ids.simulated, subDevice: "", mode: "serve", timeout: "10000", x: 120, y: 200, wires: [[ids.gpio]] },
    {
      id: ids.gpio,
      ...fn(
        "setGpio / getState",
        [
          "// Server-side RPC as the device sees it: msg.topic = method, msg.payload = params.",
          "// Output 1 goes back into the serve node (the answer); output 2 reports the pin as a client attribute.",
          "const gpio = context.get('gpio') || {};",
          "if (msg.topic === 'setGpio') {",
          "    const pin = Number(msg.payload && msg.payload.pin);",
          "    if (!Number.isInteger(pin) || pin < 0) {",
          "        msg.payload = { error: 'setGpio needs {\"pin\": <number>, \"enabled\": true|false}' };",
          "        return [msg, null];",
          "    }",
          "    gpio[pin] = Boolean(msg.payload.enabled);",
          "    context.set('gpio', gpio);",
          "    msg.payload = { pin, enabled: gpio[pin] };",
          "    return [msg, { topic: 'gpio' + pin, payload: gpio[pin] }];",
          "}",
          "if (msg.topic === 'getState') {",
          "    msg.payload = { gpio };",
          "    return [msg, null];",
          "}",
          "msg.payload = { error: 'unknown method ' + msg.topic };",
          "return [msg, null];",
        ],
        2,
        320,
        200,
        [[ids.deviceServe], [ids.deviceAttributes]],
      ),
    },
    {
      id: ids.askShared,
      ...inject(
        "on start: ask for shared attributes",
        { once: true, onceDelay: "4", props: [{ p: "thingsboard.request", v: '{"sharedKeys":"targetTemperature,heating"}', vt: "json" }] },
        200,
        260,
        [[ids.deviceAttributes]],
      ),
    },
    { id: ids.deviceAttributes, type: "thingsboard-attributes", z: TAB, name: "device: attributes", device: ids.simulated, subDevice: "", timeout: "10000", x: 500, y: 240, wires: [[ids.deviceShared]] },
    { id: ids.deviceShared, ...debug("device: shared attributes", 745, 240, { status: "payload", statusType: "auto" }) },

    // --- the server ---
    { id: ids.serverHeading, ...comment("The server (local mode: Node-RED is ThingsBoard)", 210, 340) },
    { id: ids.serverTelemetry, type: "thingsboard-telemetry", z: TAB, name: "server: telemetry", device: ids.hosted, subDevice: "", x: 130, y: 380, wires: [[ids.telemetryDebug, ids.thermostat]] },
    {
      id: ids.telemetryDebug,
      ...debug("server: telemetry", 380, 380),
    },
    {
      id: ids.thermostat,
      ...fn(
        "heating on below 21.5 °C, off above 22.5 °C",
        [
          "// The server's automation: switch the shared attribute `heating` around targetTemperature 22 °C.",
          "const t = msg.payload.temperature;",
          "if (typeof t !== 'number') return null;",
          "const on = context.get('on') || false;",
          "const next = t < 21.5 ? true : t > 22.5 ? false : on;",
          "if (next === on && context.get('sent')) return null;",
          "context.set('on', next);",
          "context.set('sent', true);",
          "return { topic: 'heating', payload: next };",
        ],
        1,
        420,
        440,
        [[ids.serverAttributes]],
      ),
    },
    { id: ids.setTarget, ...inject("targetTemperature 22", { once: true, onceDelay: "3", payload: '{"targetTemperature":22}', payloadType: "json" }, 160, 500, [[ids.serverAttributes]]) },
    { id: ids.serverAttributes, type: "thingsboard-attributes", z: TAB, name: "server: attributes", device: ids.hosted, subDevice: "", timeout: "10000", x: 680, y: 500, wires: [[ids.clientDebug]] },
    { id: ids.clientDebug, ...debug("server: client attributes", 700, 560, { status: "payload", statusType: "auto" }) },
    {
      id: ids.rpcTick,
      ...inject("every 10 s", { repeat: "10", once: true, onceDelay: "6" }, 130, 640, [[ids.toggle]]),
    },
    {
      id: ids.toggle,
      ...fn(
        "setGpio pin 2, toggling",
        [
          "const enabled = !context.get('enabled');",
          "context.set('enabled', enabled);",
          "msg.topic = 'setGpio';",
          "msg.payload = { pin: 2, enabled };",
          "return msg;",
        ],
        1,
        330,
        640,
        [[ids.serverCall]],
      ),
    },
    { id: ids.getState, ...inject("getState", { topic: "getState", payload: "{}", payloadType: "json" }, 330, 700, [[ids.serverCall]]) },
    { id: ids.serverCall, type: "thingsboard-rpc", z: TAB, name: "server: RPC call", device: ids.hosted, subDevice: "", mode: "call", timeout: "10000", x: 560, y: 640, wires: [[ids.answerDebug]] },
    { id: ids.answerDebug, ...debug("device answered", 760, 640) },
    { id: ids.catchRpc, type: "catch", z: TAB, name: "RPC not answered", scope: [ids.serverCall], uncaught: false, x: 560, y: 700, wires: [[ids.rpcErrors]] },
    { id: ids.rpcErrors, ...debug("RPC errors", 760, 700, { sidebar: true, complete: "error", status: "error.message", statusType: "msg" }) },
  ];
  return { nodes, credentials: { [ids.hosted]: { token }, [ids.simulated]: { token } } };
}
