"use strict";
const assert = require("node:assert/strict");
const http = require("node:http");
const net = require("node:net");
const { once } = require("node:events");
const mqtt = require("mqtt");
const { BrokerEngine, ListenError, deviceNamespace } = require("../../../dist/nodes/lib/broker/index.js");
const { startEngine, connect, connectRefused, inbox } = require("../fixtures/engine.js");
const { waitFor, until } = require("../../support/wait.js");

const USERS = [
  { username: "sensor", password: "s3cret-sensor", publish: ["sensors/%u/#"], subscribe: ["cmd/%u/#"] },
  { username: "dash", password: "s3cret-dash", publish: ["cmd/+/set"], subscribe: ["sensors/#", "cmd/#"] },
];

/** A test platform: devices log in with username "dev" and a known token; device id = token's index. */
function testPlugin(tokens, hooks = {}) {
  return {
    name: "test",
    authenticate(req) {
      if (req.username !== "dev") return undefined;
      const id = tokens.indexOf(req.password?.toString());
      if (id < 0) return { accept: false, returnCode: 4, reason: "unknown token" };
      return {
        accept: true,
        identity: { kind: "device", plugin: "test", deviceId: String(id), namespace: deviceNamespace({ plugin: "test", deviceId: String(id) }) },
      };
    },
    ...hooks,
  };
}

/** The granted list of a SUBACK, also when MQTT.js rejects because an entry failed. */
async function subackOf(client, filters) {
  try {
    return await client.subscribeAsync(filters);
  } catch (err) {
    if (!err.packet) throw err;
    return err.packet.granted.map((qos, i) => ({ topic: filters[i], qos }));
  }
}

describe("broker engine", function () {
  let ctx;
  const clients = [];
  const track = (c) => (clients.push(c), c);

  afterEach(async function () {
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true).catch(() => undefined)));
    if (ctx) await ctx.engine.close();
    ctx = undefined;
  });

  describe("connections", function () {
    for (const protocolVersion of [4, 5]) {
      it(`accepts MQTT ${protocolVersion === 4 ? "3.1.1" : "5"} with an empty client id and routes messages`, async function () {
        ctx = await startEngine({ allowAnonymous: true });
        const sub = track(await connect(ctx.url, { protocolVersion, clientId: "" }));
        const box = inbox(sub);
        await sub.subscribeAsync("a/+", { qos: 1 });
        const pub = track(await connect(ctx.url, { protocolVersion, clientId: "" }));
        await pub.publishAsync("a/b", "hello", { qos: 1 });
        assert.equal((await box.next("a/b")).payload, "hello");
        assert.equal(ctx.engine.connectedClients, 2);
        assert.ok(ctx.events.some((e) => e.event === "client-connected" && e.kind === "anonymous" && e.protocolVersion === protocolVersion));
      });
    }

    it("accepts client ids up to 256 characters (Blynk uses up to 64)", async function () {
      ctx = await startEngine({ allowAnonymous: true });
      track(await connect(ctx.url, { clientId: "x".repeat(64) }));
      track(await connect(ctx.url, { clientId: "y".repeat(256) }));
    });

    it("refuses anonymous clients by default with CONNACK 5 and reports it", async function () {
      ctx = await startEngine();
      const err = await connectRefused(ctx.url);
      assert.equal(err.code, 5);
      const refused = ctx.events.find((e) => e.event === "auth-refused");
      assert.equal(refused.returnCode, 5);
      assert.match(refused.reason, /anonymous/);
    });

    it("refuses an unknown user and a wrong password with CONNACK 4, without echoing the password", async function () {
      ctx = await startEngine({ users: USERS });
      assert.equal((await connectRefused(ctx.url, { username: "nobody", password: "pw-nobody" })).code, 4);
      assert.equal((await connectRefused(ctx.url, { username: "sensor", password: "wrong-pw-123" })).code, 4);
      assert.equal((await connectRefused(ctx.url, { username: "sensor" })).code, 4);
      const text = JSON.stringify(ctx.events);
      assert.match(text, /unknown user \(/);
      assert.ok(!text.includes("nobody"), "an unclaimed username may be a token: it is not echoed");
      assert.match(text, /wrong password for user \\"sensor\\"/);
      assert.doesNotMatch(text, /wrong-pw-123|pw-nobody|s3cret/);
    });

    it("refuses MQTT 5 clients with the v5 reason code for bad credentials", async function () {
      ctx = await startEngine({ users: USERS });
      const err = await connectRefused(ctx.url, { protocolVersion: 5, username: "sensor", password: "nope-nope" });
      assert.equal(err.code, 0x86);
    });

    it("counts clients and emits connect/disconnect events", async function () {
      ctx = await startEngine({ allowAnonymous: true });
      const counts = [];
      ctx.engine.on("clients", (n) => counts.push(n));
      const ready = waitFor(ctx.engine, "clients", (n) => n === 1);
      const c = await connect(ctx.url, { clientId: "counted" });
      await ready;
      assert.deepEqual(ctx.engine.clients().map((i) => i.clientId), ["counted"]);
      const gone = waitFor(ctx.engine, "event", (e) => e.event === "client-disconnected");
      await c.endAsync();
      await gone;
      assert.deepEqual(counts, [1, 0]);
      assert.equal(ctx.engine.connectedClients, 0);
    });
  });

  describe("users and topic permissions", function () {
    it("lets a user publish and subscribe only within its patterns (%u expanded)", async function () {
      ctx = await startEngine({ users: USERS });
      const dash = track(await connect(ctx.url, { username: "dash", password: "s3cret-dash" }));
      const box = inbox(dash);
      await dash.subscribeAsync("sensors/#");
      const sensor = track(await connect(ctx.url, { username: "sensor", password: "s3cret-sensor" }));
      // Outside the pattern (another user's subtree): dropped, the connection stays up (3.1.1).
      await sensor.publishAsync("sensors/other/temp", "1", { qos: 1 });
      await sensor.publishAsync("sensors/sensor/temp", "21.5", { qos: 1 });
      assert.equal((await box.next("sensors/sensor/temp")).payload, "21.5");
      assert.ok(!box.messages.some((m) => m.topic === "sensors/other/temp"));
      assert.ok(sensor.connected);
      assert.ok(ctx.events.some((e) => e.event === "publish-refused" && e.topic === "sensors/other/temp"));
    });

    it("answers SUBACK 0x80 for a filter outside the user's patterns, including wider filters", async function () {
      ctx = await startEngine({ users: USERS });
      const sensor = track(await connect(ctx.url, { username: "sensor", password: "s3cret-sensor" }));
      const granted = await subackOf(sensor, ["cmd/sensor/#", "cmd/#", "#"]);
      assert.deepEqual(granted.map((g) => g.qos), [0, 128, 128]);
      assert.equal(ctx.events.filter((e) => e.event === "subscribe-refused").length, 2);
    });

    it("answers an MQTT 5 QoS 1 publish outside the patterns with PUBACK 0x87", async function () {
      ctx = await startEngine({ users: USERS });
      const sensor = track(await connect(ctx.url, { protocolVersion: 5, username: "sensor", password: "s3cret-sensor" }));
      await assert.rejects(sensor.publishAsync("elsewhere", "x", { qos: 1 }), (err) => err.code === 0x87);
      assert.ok(sensor.connected);
    });

    it("rejects an invalid user list with a message naming the problem", async function () {
      await assert.rejects(BrokerEngine.create({ users: [{ username: "a", password: "", publish: [], subscribe: [] }] }), /user 1 \("a"\): password must be a non-empty string/);
      await assert.rejects(BrokerEngine.create({ users: [{ username: "a", password: "p", publish: ["a/#/b"], subscribe: [] }] }), /publish pattern: .*# is allowed only as the whole last level/);
      await assert.rejects(BrokerEngine.create({ users: [USERS[0], USERS[0]] }), /defined twice/);
      await assert.rejects(BrokerEngine.create({ persistence: { kind: "redis" } }), /persistence "redis" is not available; accepted: "memory"/);
    });
  });

  describe("internal $iot/ space", function () {
    it("is unreachable for ordinary clients: no wildcard delivery, no retained leak, no explicit access", async function () {
      ctx = await startEngine({ allowAnonymous: true });
      const local = ctx.engine.createLocalClient();
      await local.publish("$iot/test/0/down/secret", "retained-secret", { retain: true });
      const spy = track(await connect(ctx.url));
      const box = inbox(spy);
      const granted = await subackOf(spy, ["#", "+/test/#", "$iot/#", "$iot/test/0/down/secret"]);
      assert.deepEqual(granted.map((g) => g.qos), [0, 0, 128, 128]);
      await local.publish("$iot/test/0/down/live", "live-secret");
      await spy.publishAsync("$iot/test/0/down/forged", "forged", { qos: 1 });
      await local.publish("public/marker", "m");
      await box.next("public/marker");
      assert.deepEqual(box.messages.map((m) => m.topic), ["public/marker"]);
    });
  });

  describe("plug-in seam and device namespaces", function () {
    async function withDevices() {
      ctx = await startEngine();
      const seen = { subscribed: [], ready: [], gone: [], published: [] };
      ctx.engine.addPlugin(
        testPlugin(["tok-zero-0000", "tok-one-11111"], {
          clientReady: (info) => seen.ready.push(info.identity.deviceId),
          clientGone: (info) => seen.gone.push(info.identity.deviceId),
          subscribed: (info, filters) => seen.subscribed.push([info.identity.deviceId, filters]),
          published: (info, m) => seen.published.push([info.identity.deviceId, m.topic, m.payload.toString()]),
        }),
      );
      const local = ctx.engine.createLocalClient();
      return { seen, local };
    }

    it("maps a device's uplink and downlink through its private namespace", async function () {
      const { local, seen } = await withDevices();
      const up = [];
      await local.subscribe("$iot/test/+/up/#", (m) => up.push([m.topic, m.payload.toString()]));
      const dev = track(await connect(ctx.url, { username: "dev", password: "tok-zero-0000" }));
      const box = inbox(dev);
      await dev.subscribeAsync("downlink/#");
      await local.publish("$iot/test/0/down/downlink/ds/Power", "1");
      assert.equal((await box.next("downlink/ds/Power")).payload, "1");
      await dev.publishAsync("ds/Temp", "22", { qos: 1 });
      await until(() => up.length > 0 && seen.published.length > 0, 5000, "the uplink");
      assert.deepEqual(up, [["$iot/test/0/up/ds/Temp", "22"]]);
      assert.deepEqual(seen.ready, ["0"]);
      assert.deepEqual(seen.subscribed, [["0", ["$iot/test/0/down/downlink/#"]]]);
      assert.deepEqual(seen.published, [["0", "$iot/test/0/up/ds/Temp", "22"]]);
      const event = ctx.events.find((e) => e.event === "client-connected");
      assert.equal(event.deviceId, "0");
      assert.doesNotMatch(JSON.stringify(ctx.events), /tok-zero/);
    });

    it("tells a plugin what its devices published whether it came before the engine started or after all plugins were removed", async function () {
      // The engine hooks aedes' `published` only while a plugin is plugged in: set at start for
      // a plugin added before, taken off when the last one goes, set again for the next.
      const engine = new BrokerEngine();
      const seen = [];
      const record = (name) => ({ published: (info, m) => seen.push([name, m.topic]) });
      const removeEarly = engine.addPlugin(testPlugin(["tok-zero-0000"], record("early")));
      await engine.ready();
      const info = await engine.listen({ kind: "tcp", host: "127.0.0.1", port: 0 });
      ctx = { engine, events: [], url: `mqtt://127.0.0.1:${info.port}` };
      const first = track(await connect(ctx.url, { username: "dev", password: "tok-zero-0000" }));
      await first.publishAsync("ds/A", "1", { qos: 1 });
      await until(() => seen.length === 1, 5000, "the early plugin's report");
      removeEarly();
      const removeLate = engine.addPlugin(testPlugin(["tok-zero-0000"], record("late")));
      const second = track(await connect(ctx.url, { username: "dev", password: "tok-zero-0000" }));
      await second.publishAsync("ds/B", "2", { qos: 1 });
      await until(() => seen.length === 2, 5000, "the late plugin's report");
      removeLate();
      assert.deepEqual(seen, [
        ["early", "$iot/test/0/up/ds/A"],
        ["late", "$iot/test/0/up/ds/B"],
      ]);
    });

    it("never returns a device's own uplink, even on topics used both ways, and isolates devices", async function () {
      const { local } = await withDevices();
      const a = track(await connect(ctx.url, { username: "dev", password: "tok-zero-0000" }));
      const b = track(await connect(ctx.url, { username: "dev", password: "tok-one-11111" }));
      const boxA = inbox(a);
      const boxB = inbox(b);
      await a.subscribeAsync(["v1/devices/me/attributes", "#"]);
      await b.subscribeAsync("#");
      await a.publishAsync("v1/devices/me/attributes", '{"fw":"1.0"}', { qos: 1 });
      await local.publish("$iot/test/0/down/marker", "a");
      await local.publish("$iot/test/1/down/marker", "b");
      assert.equal((await boxA.next("marker")).payload, "a");
      assert.equal((await boxB.next("marker")).payload, "b");
      assert.deepEqual(boxA.messages.map((m) => m.payload), ["a"]);
      assert.deepEqual(boxB.messages.map((m) => m.payload), ["b"]);
    });

    it("lets a namespaced client unsubscribe", async function () {
      const { local } = await withDevices();
      const dev = track(await connect(ctx.url, { username: "dev", password: "tok-zero-0000" }));
      const box = inbox(dev);
      await dev.subscribeAsync(["gone/#", "stay"]);
      await dev.unsubscribeAsync("gone/#");
      await local.publish("$iot/test/0/down/gone/x", "should not arrive");
      await local.publish("$iot/test/0/down/stay", "marker");
      await box.next("stay");
      assert.deepEqual(box.messages.map((m) => m.topic), ["stay"]);
      assert.deepEqual(ctx.events.find((e) => e.event === "unsubscribe").topics, ["gone/#"]);
    });

    it("calls subscribed() once the subscription is in place, so an immediate answer arrives", async function () {
      ctx = await startEngine();
      let local;
      ctx.engine.addPlugin(
        testPlugin(["tok-zero-0000"], {
          subscribed: (info, filters) => {
            for (const f of filters) void local.publish(f.replace("#", "hello"), "answer");
          },
        }),
      );
      local = ctx.engine.createLocalClient();
      const dev = track(await connect(ctx.url, { username: "dev", password: "tok-zero-0000" }));
      const box = inbox(dev);
      await dev.subscribeAsync("downlink/#");
      assert.equal((await box.next("downlink/hello")).payload, "answer");
    });

    it("uses a plugin's refusal code, and refuses with 3 when a plugin throws", async function () {
      ctx = await startEngine();
      ctx.engine.addPlugin(testPlugin(["tok-zero-0000"]));
      assert.equal((await connectRefused(ctx.url, { username: "dev", password: "bad-token-xx" })).code, 4);
      ctx.engine.addPlugin({ name: "broken", authenticate: () => { throw new Error("boom"); } });
      assert.equal((await connectRefused(ctx.url, { username: "other", password: "whatever" })).code, 3);
      assert.ok(ctx.events.some((e) => e.event === "plugin-error" && e.plugin === "broken" && e.error === "boom"));
    });

    it("disconnects a plugin's devices when the plugin is removed", async function () {
      ctx = await startEngine();
      const remove = ctx.engine.addPlugin(testPlugin(["tok-zero-0000"]));
      const ready = waitFor(ctx.engine, "clients", (n) => n === 1);
      const dev = track(await connect(ctx.url, { username: "dev", password: "tok-zero-0000" }));
      await ready;
      const closed = once(dev, "close");
      remove();
      await closed;
      assert.equal((await connectRefused(ctx.url, { username: "dev", password: "tok-zero-0000" })).code, 4);
    });
  });

  describe("retained messages and QoS 1", function () {
    it("keeps retained messages and delivers QoS 1", async function () {
      ctx = await startEngine({ allowAnonymous: true });
      const pub = track(await connect(ctx.url));
      await pub.publishAsync("state/lamp", "on", { qos: 1, retain: true });
      const sub = track(await connect(ctx.url));
      const box = inbox(sub);
      await sub.subscribeAsync("state/#", { qos: 1 });
      const m = await box.next("state/lamp");
      assert.deepEqual([m.payload, m.retain, m.qos], ["on", true, 1]);
    });
  });

  describe("listeners", function () {
    it("reports a busy port clearly and frees its port on close", async function () {
      ctx = await startEngine({ allowAnonymous: true });
      const other = await BrokerEngine.create({});
      try {
        await assert.rejects(other.listen({ kind: "tcp", host: "127.0.0.1", port: ctx.port }), (err) => {
          assert.ok(err instanceof ListenError);
          assert.equal(err.code, "address-in-use");
          assert.match(err.message, new RegExp(`port ${ctx.port} on 127.0.0.1 is already in use`));
          return true;
        });
        const c = await connect(ctx.url);
        const closed = once(c, "close");
        await ctx.engine.close();
        await closed;
        await other.listen({ kind: "tcp", host: "127.0.0.1", port: ctx.port });
      } finally {
        await other.close();
      }
    });

    it("serves MQTT over WebSocket on its own port", async function () {
      ctx = await startEngine({ allowAnonymous: true });
      const info = await ctx.engine.listen({ kind: "ws", host: "127.0.0.1", port: 0, path: "/mqtt" });
      const c = track(await connect(`ws://127.0.0.1:${info.port}/mqtt`, { protocolVersion: 5 }));
      const box = inbox(c);
      await c.subscribeAsync("ws/test");
      await c.publishAsync("ws/test", "over ws");
      assert.equal((await box.next("ws/test")).payload, "over ws");
    });

    it("serves MQTT over WebSocket on a path of an existing HTTP server and leaves other upgrades alone", async function () {
      const server = http.createServer();
      const foreign = [];
      server.on("upgrade", (req, socket) => {
        if (req.url === "/other") foreign.push(req.url), socket.destroy();
      });
      server.listen(0, "127.0.0.1");
      await once(server, "listening");
      const port = server.address().port;
      try {
        ctx = await startEngine({ allowAnonymous: true });
        await ctx.engine.listen({ kind: "ws-attach", server, path: "/mqtt" });
        const c = track(await connect(`ws://127.0.0.1:${port}/mqtt`));
        const box = inbox(c);
        await c.subscribeAsync("x");
        await c.publishAsync("x", "y");
        assert.equal((await box.next("x")).payload, "y");
        const other = net.connect(port, "127.0.0.1");
        other.write("GET /other HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
        await once(other, "close");
        assert.deepEqual(foreign, ["/other"]);
        await ctx.engine.close();
        assert.equal(server.listenerCount("upgrade"), 1);
      } finally {
        server.closeAllConnections();
        await new Promise((r) => server.close(r));
      }
    });

    it("survives garbage on the wire", async function () {
      ctx = await startEngine({ allowAnonymous: true });
      const s = net.connect(ctx.port, "127.0.0.1");
      s.on("error", () => undefined);
      s.end(Buffer.from([0xff, 0x00, 0x12, 0x34, 0x56]));
      await once(s, "close");
      const c = track(await connect(ctx.url));
      assert.ok(c.connected);
    });
  });

  describe("local client", function () {
    it("publishes, subscribes, refuses oversize payloads and bad topics, and closes", async function () {
      ctx = await startEngine({ allowAnonymous: true });
      const local = ctx.engine.createLocalClient({ maxPayloadBytes: 8 });
      const got = [];
      const sub = await local.subscribe("l/#", (m) => got.push(m.payload.toString()));
      const c = track(await connect(ctx.url));
      await c.publishAsync("l/1", "from-net", { qos: 1 });
      await until(() => got.length === 1, 5000, "the local delivery");
      assert.deepEqual(got, ["from-net"]);
      await assert.rejects(local.publish("l/2", "123456789"), /9 bytes; the limit is 8/);
      await assert.rejects(local.publish("l/#", "x"), /must not contain the wildcards/);
      await sub.unsubscribe();
      await local.close();
      await assert.rejects(local.publish("l/3", "x"), /not running/);
      assert.equal(local.status.state, "closed");
    });

    it("receives retained messages on subscribe, as a network client would (but no $-topics on a leading wildcard)", async function () {
      ctx = await startEngine({ allowAnonymous: true });
      const pub = track(await connect(ctx.url));
      await pub.publishAsync("state/lamp", "on", { qos: 1, retain: true });
      const local = ctx.engine.createLocalClient();
      await local.publish("$iot/x/state", "internal", { retain: true });
      const got = [];
      await local.subscribe("state/#", (m) => got.push([m.topic, m.payload.toString(), m.retain]));
      await local.subscribe("$iot/x/#", (m) => got.push([m.topic, m.payload.toString(), m.retain]));
      await local.subscribe("#", (m) => got.push(["#", m.topic]));
      assert.deepEqual(got, [["state/lamp", "on", true], ["$iot/x/state", "internal", true], ["#", "state/lamp"]]);
    });

    it("survives a throwing handler and reports it as a warning", async function () {
      ctx = await startEngine({ allowAnonymous: true });
      const local = ctx.engine.createLocalClient();
      const warned = waitFor(local, "warning");
      await local.subscribe("t", () => {
        throw new Error("handler bug");
      });
      await local.publish("t", "x");
      assert.match(await warned, /handler bug/);
    });
  });

  it("closes with clients connected and refuses new work afterwards", async function () {
    ctx = await startEngine({ allowAnonymous: true });
    const c = await connect(ctx.url);
    const closed = once(c, "close");
    await ctx.engine.close();
    await closed;
    await ctx.engine.close();
    await assert.rejects(ctx.engine.listen({ kind: "tcp", host: "127.0.0.1", port: 0 }), /closed/);
    c.end(true);
    void mqtt;
  });
});
