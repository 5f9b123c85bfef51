"use strict";
const assert = require("node:assert/strict");
const { EventEmitter } = require("node:events");
const { LinkUsers, ownerOf, statusView, useLink } = require("../../../dist/nodes/lib/transport/link-users.js");

function fakeLinks() {
  const made = [];
  const open = () => {
    const link = { closed: 0, close: async () => void link.closed++ };
    made.push(link);
    return link;
  };
  return { made, open };
}

describe("LinkUsers (one link per config node)", function () {
  it("opens on the first user, shares it, keeps it over a redeploy and closes it with the last removal", async function () {
    const { made, open } = fakeLinks();
    const users = new LinkUsers(open);
    assert.equal(users.link, undefined);
    const a = users.register("a");
    assert.equal(users.register("b"), a);
    await users.deregister("a", false);
    await users.deregister("b", false);
    assert.equal(made[0].closed, 0, "a redeploy keeps the connection");
    assert.equal(users.register("b"), a);
    await users.deregister("b", true);
    assert.equal(made[0].closed, 1);
    assert.notEqual(users.register("c"), a, "a new user after the close opens a new link");
    assert.equal(made.length, 2);
  });

  it("keeps a keepOpen link for the config node's whole life, and closes it with the config node", async function () {
    const { made, open } = fakeLinks();
    const users = new LinkUsers(open, { keepOpen: true });
    assert.equal(made.length, 1);
    users.register("a");
    await users.deregister("a", true);
    assert.equal(made[0].closed, 0);
    await users.close();
    assert.equal(made[0].closed, 1);
    assert.equal(users.register("b"), undefined);
  });

  it("finds an owner only on objects that expose one", function () {
    const owner = { register() {}, deregister() {} };
    assert.equal(ownerOf({ blynk: owner }, "blynk"), owner);
    for (const node of [null, undefined, {}, { blynk: 1 }, { blynk: {} }, { other: owner }]) assert.equal(ownerOf(node, "blynk"), undefined);
  });

  const views = [
    [{ state: "connected", queued: 0 }, false, { fill: "green", shape: "dot", key: "connected" }],
    [{ state: "connecting", queued: 2 }, false, { fill: "yellow", shape: "ring", key: "connecting-queued", params: { count: 2 } }],
    [{ state: "auth-failed", queued: 0, reason: "bad token" }, false, { fill: "red", shape: "ring", key: "auth-failed" }],
    [{ state: "disconnected", queued: 0, reason: "refused" }, false, { fill: "red", shape: "ring", key: "no-connection" }],
    [{ state: "disconnected", queued: 0 }, true, { fill: "red", shape: "ring", key: "broker-stopped" }],
    [{ state: "connected", queued: 0, deviceOnline: false }, true, { fill: "yellow", shape: "ring", key: "device-offline" }],
    [{ state: "connected", queued: 0, deviceOnline: true }, true, { fill: "green", shape: "dot", key: "device-online" }],
    [{ state: "closed", queued: 0 }, false, undefined],
    // A refusal code is the platform's to word: the shared view shows the same as without it.
    [{ state: "auth-failed", queued: 0, reason: "refused (code 0x05)", refusal: 5 }, false, { fill: "red", shape: "ring", key: "auth-failed" }],
    [{ state: "auth-failed", queued: 3, reason: "HTTP 401", refusal: 401 }, false, { fill: "red", shape: "ring", key: "auth-failed-queued", params: { count: 3 } }],
    [{ state: "disconnected", queued: 0, reason: "server unavailable (code 0x03)", refusal: 3 }, false, { fill: "red", shape: "ring", key: "no-connection" }],
    [{ state: "disconnected", queued: 1, reason: "x", refusal: 0x88 }, true, { fill: "red", shape: "ring", key: "broker-stopped-queued", params: { count: 1 } }],
    [{ state: "connected", queued: 2, deviceOnline: true }, false, { fill: "green", shape: "dot", key: "device-online-queued", params: { count: 2 } }],
    [{ state: "connected", queued: 0, deviceOnline: false }, false, { fill: "green", shape: "ring", key: "device-offline" }],
    // Local, not hosted (e.g. another device has the token): the broker may run; the reason says why.
    [{ state: "disconnected", queued: 0, reason: "not hosted: \"A\" already uses the same token", hosted: false }, true, { fill: "red", shape: "ring", key: "not-hosted" }],
  ];
  for (const [status, local, view] of views) {
    it(`shows ${JSON.stringify(status)}${local ? " (local)" : ""} as ${view ? view.key : "nothing"}`, function () {
      assert.deepEqual(statusView(status, local), view);
    });
  }
});

describe("useLink (a flow node following its config node's link)", function () {
  /** A link as useLink sees it: status, ready, and the three events. */
  function fakeLink(status) {
    const link = new EventEmitter();
    link.status = status;
    link.ready = false;
    link.close = async () => {};
    return link;
  }
  const ownerOf = (link) => ({ deviceName: "d", problem: undefined, register: () => link, deregister: async () => {} });

  it("shows every status through the platform's view, from the status the link announced", async function () {
    const link = fakeLink({ state: "connecting", queued: 0 });
    const seen = [];
    const given = [];
    const view = (status) => {
      given.push(status);
      return { fill: "blue", shape: "dot", key: `seen-${status.state}`, params: { extra: status.extra ?? "" } };
    };
    const use = useLink(ownerOf(link), "u1", view, { status: (v) => seen.push(v), failed: assert.fail });
    assert.deepEqual(seen.map((v) => v.key), ["seen-connecting"], "one view at once, of the current status");
    const announced = { state: "connected", queued: 0, extra: "the platform's own field" };
    link.emit("status", announced);
    assert.equal(given[1], announced, "the view gets the announced status, not a re-read");
    assert.deepEqual(seen[1].params, { extra: "the platform's own field" });
    await use.release(true);
    link.emit("status", { state: "closed", queued: 0 });
    assert.equal(seen.length, 2, "nothing after release");
  });

  it("reports a view that throws through `failed`, never to the link", function () {
    const link = fakeLink({ state: "connected", queued: 0 });
    const failures = [];
    useLink(ownerOf(link), "u1", () => {
      throw new Error("view bug");
    }, { status: assert.fail, failed: (err) => failures.push(err.message) });
    link.emit("status", { state: "disconnected", queued: 0 });
    assert.deepEqual(failures, ["view bug", "view bug"]);
  });

  it("gives nothing for an unusable owner", function () {
    const owner = { deviceName: "d", problem: { key: "x", params: {} }, register: () => undefined, deregister: async () => {} };
    assert.equal(useLink(owner, "u1", () => undefined, { status: assert.fail, failed: assert.fail }), undefined);
  });
});
