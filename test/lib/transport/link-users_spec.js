"use strict";
const assert = require("node:assert/strict");
const { LinkUsers, ownerOf, statusView } = require("../../../dist/nodes/lib/transport/link-users.js");

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
    [{ state: "disconnected", queued: 0, reason: "refused" }, false, { fill: "red", shape: "ring", key: "disconnected", params: { reason: "refused" } }],
    [{ state: "disconnected", queued: 0 }, true, { fill: "red", shape: "ring", key: "broker-stopped" }],
    [{ state: "connected", queued: 0, deviceOnline: false }, true, { fill: "yellow", shape: "ring", key: "device-offline" }],
    [{ state: "connected", queued: 0, deviceOnline: true }, true, { fill: "green", shape: "dot", key: "device-online" }],
    [{ state: "closed", queued: 0 }, false, undefined],
  ];
  for (const [status, local, view] of views) {
    it(`shows ${JSON.stringify(status)}${local ? " (local)" : ""} as ${view ? view.key : "nothing"}`, function () {
      assert.deepEqual(statusView(status, local), view);
    });
  }
});
