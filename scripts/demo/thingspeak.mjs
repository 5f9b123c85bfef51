// The ThingSpeak part of the `npm start` demo: a simulated ThingSpeak device (a
// `thingspeak-channel` in mqtt mode, exactly as Node-RED would talk to mqtt3.thingspeak.com)
// pointed at the demo broker, where a local-mode `thingspeak-channel` hosts the channel with the
// same MQTT device credentials; its entries are also readable with ThingSpeak's REST API.
import { randomBytes } from "node:crypto";

const TAB = "b0d9e1a1c0de0300";
const id = (n) => `b0d9e1a1c0de${(0x300 + n).toString(16).padStart(4, "0")}`;
/** The hosted channel's id (ThingSpeak channel ids are positive integers). */
export const THINGSPEAK_DEMO_CHANNEL = 100001;

const MIXED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/** `length` random characters of `alphabet` (no modulo bias), as the channel editor's Generate buttons make them. */
function randomText(alphabet, length) {
  const limit = 256 - (256 % alphabet.length);
  let out = "";
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < limit && out.length < length) out += alphabet[byte % alphabet.length];
    }
  }
  return out;
}

const comment = (name, x, y, info = "") => ({ type: "comment", z: TAB, name, info, x, y, wires: [] });

/**
 * Flow nodes and credentials of the ThingSpeak demo tab, for the demo broker with id `brokerId`
 * on `port`; `httpPort` is the editor's port, where Node-RED serves the REST API.
 */
export function thingspeakDemo({ port, brokerId, httpPort = 1880 }) {
  const ids = {
    info: id(1),
    hosted: id(2),
    simulated: id(3),
    deviceHeading: id(4),
    tick: id(5),
    sensors: id(6),
    writeTemp: id(7),
    writeHumidity: id(8),
    sentDebug: id(9),
    serverHeading: id(10),
    entries: id(11),
    entriesDebug: id(12),
    rest: id(13),
    restKey: id(14),
    catchWrites: id(15),
    writeErrors: id(16),
  };
  const channel = THINGSPEAK_DEMO_CHANNEL;
  // MQTT device credentials (as ThingSpeak generates them: client id = username) and REST API keys,
  // made once for this userDir; they live only in flows_cred.json.
  const mqttId = randomText(MIXED, 23);
  const device = { clientId: mqttId, username: mqttId, password: randomText(MIXED, 24) };
  const keys = { writeKey: randomText(UPPER, 16), readKey: randomText(UPPER, 16) };
  const feeds = `http://127.0.0.1:${httpPort}/channels/${channel}/feeds.json?api_key=<read key>&results=5`;
  const info = [
    "## ThingSpeak, fully self-hosted",
    "",
    `- **Weather station (hosted)** is a \`thingspeak-channel\` in *local* mode on the demo broker: Node-RED is the ThingSpeak server for channel \`${channel}\`, with the MQTT device credentials and REST API keys in its config node. Its *Interval* is 1 s: there is no license to respect.`,
    "- **Weather station (simulated device)** is a `thingspeak-channel` in *mqtt* mode pointed at the demo broker with the same MQTT device credentials: it behaves exactly like ThingSpeak MQTT firmware (or Node-RED talking to mqtt3.thingspeak.com). Its *Interval* is 5 s (15 s on a free ThingSpeak license).",
    "",
    "What happens:",
    "",
    "- Every 5 s the simulated device writes `Temperature` (field 1) and `Humidity` (field 2) with two write nodes, one right after the other. They share the channel's 5 s interval, so the second write waits and is **combined** with the next ones: one full row every 5 s instead of sparse rows and refused updates (the write nodes' status shows what is pending; *device: updates sent* shows which writes were combined). With a 15 s interval, three readings of each field would become one row.",
    "- The server side receives every new entry of the hosted channel (*server: new entries*).",
    `- The entries are readable with ThingSpeak's REST API on Node-RED's own HTTP port: \`${feeds}\` (read key: see the channel's config node).`,
    "",
    `A real device running ThingSpeak's MQTT samples can do the same: host \`<this machine>\`, port ${port}, channel ${channel}, with the client id, username and password from the hosted channel's config node.`,
  ].join("\n");

  const nodes = [
    { id: TAB, type: "tab", label: "ThingSpeak demo", disabled: false, info: `A simulated ThingSpeak device feeding a channel that Node-RED hosts itself.\n\n${info}`, env: [] },
    { id: ids.info, ...comment("ThingSpeak demo: what you see (click it, then read the Info sidebar)", 270, 40, info) },
    {
      id: ids.hosted,
      type: "thingspeak-channel",
      name: "Weather station (hosted)",
      connection: "local",
      server: "",
      broker: brokerId,
      channelId: String(channel),
      updateInterval: "1",
      fieldNames: "1=Temperature, 2=Humidity",
    },
    {
      id: ids.simulated,
      type: "thingspeak-channel",
      name: "Weather station (simulated device)",
      connection: "mqtt",
      server: `mqtt://127.0.0.1:${port}`,
      broker: "",
      channelId: String(channel),
      updateInterval: "5",
      fieldNames: "",
    },

    // --- the simulated device ---
    { id: ids.deviceHeading, ...comment("The simulated device (mqtt mode, like ThingSpeak firmware)", 250, 100) },
    {
      id: ids.tick,
      type: "inject",
      z: TAB,
      name: "every 5 s",
      props: [{ p: "payload" }],
      repeat: "5",
      crontab: "",
      once: true,
      onceDelay: "2",
      topic: "",
      payload: "",
      payloadType: "date",
      x: 130,
      y: 160,
      wires: [[ids.sensors]],
    },
    {
      id: ids.sensors,
      type: "function",
      z: TAB,
      name: "temperature / humidity",
      func: [
        "// Two sensors read at the same time: one message per field.",
        "const minutes = Date.now() / 60000;",
        "const temperature = Math.round((18 + 3 * Math.sin(minutes / 4) + (Math.random() - 0.5) * 0.4) * 10) / 10;",
        "const humidity = Math.round((60 + 8 * Math.cos(minutes / 6) + (Math.random() - 0.5) * 2) * 10) / 10;",
        "return [{ payload: temperature }, { payload: humidity }];",
      ].join("\n"),
      outputs: 2,
      timeout: 0,
      noerr: 0,
      initialize: "",
      finalize: "",
      libs: [],
      x: 330,
      y: 160,
      wires: [[ids.writeTemp], [ids.writeHumidity]],
    },
    { id: ids.writeTemp, type: "thingspeak-field", z: TAB, name: "write Temperature", channel: ids.simulated, field: "1", mode: "write", bulk: false, interval: "", x: 550, y: 140, wires: [[ids.sentDebug]] },
    { id: ids.writeHumidity, type: "thingspeak-field", z: TAB, name: "write Humidity", channel: ids.simulated, field: "2", mode: "write", bulk: false, interval: "", x: 540, y: 200, wires: [[ids.sentDebug]] },
    {
      id: ids.sentDebug,
      type: "debug",
      z: TAB,
      name: "device: updates sent",
      active: true,
      // Status only: every write node reports the update that carried its write, so one update
      // arrives here once per write it carried (two or three times), with the same values.
      tosidebar: false,
      console: false,
      tostatus: true,
      complete: "thingspeak",
      targetType: "msg",
      statusVal: '(thingspeak.coalesced > 1 ? "combined: " : "alone: ") & $join($keys(thingspeak.sent), " + ")',
      statusType: "jsonata",
      x: 760,
      y: 260,
      wires: [],
    },

    {
      id: ids.catchWrites,
      type: "catch",
      z: TAB,
      name: "update not sent",
      scope: [ids.writeTemp, ids.writeHumidity],
      uncaught: false,
      x: 540,
      y: 320,
      wires: [[ids.writeErrors]],
    },
    {
      id: ids.writeErrors,
      type: "debug",
      z: TAB,
      name: "write errors",
      active: true,
      tosidebar: true,
      console: false,
      tostatus: true,
      complete: "error",
      targetType: "msg",
      statusVal: "error.message",
      statusType: "msg",
      x: 740,
      y: 320,
      wires: [],
    },

    // --- the server ---
    { id: ids.serverHeading, ...comment(`The server (local mode: Node-RED hosts channel ${channel})`, 240, 400) },
    { id: ids.entries, type: "thingspeak-field", z: TAB, name: "server: new entries", channel: ids.hosted, field: "", mode: "subscribe", bulk: false, interval: "", x: 150, y: 440, wires: [[ids.entriesDebug]] },
    {
      id: ids.entriesDebug,
      type: "debug",
      z: TAB,
      name: "server: new entries",
      active: true,
      tosidebar: false,
      console: false,
      tostatus: true,
      complete: "payload",
      targetType: "msg",
      // Fields written in different update intervals arrive in different entries: show what each has.
      statusVal: '"entry " & payload.entry_id & ": " & $join([payload.field1 ? payload.field1 & " °C", payload.field2 ? payload.field2 & " %"], ", ")',
      statusType: "jsonata",
      x: 400,
      y: 440,
      wires: [],
    },
    {
      id: ids.rest,
      ...comment(`REST: ${feeds}`, 370, 500, `ThingSpeak's REST API, served by Node-RED for the hosted channel: \`curl "${feeds}"\`. The read key is in the config node *Weather station (hosted)* (REST API keys); it is never part of the flow.`),
    },
    { id: ids.restKey, ...comment("read key: see the channel's config node (Weather station (hosted), REST API keys)", 350, 540) },
  ];
  return { nodes, credentials: { [ids.hosted]: { ...device, ...keys }, [ids.simulated]: { ...device } } };
}
