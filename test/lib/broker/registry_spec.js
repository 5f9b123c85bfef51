"use strict";
const assert = require("node:assert/strict");
const { BrokerRegistry } = require("../../../dist/nodes/lib/broker/index.js");

describe("broker registry", function () {
  const engineA = { name: "A" };
  const engineB = { name: "B" };

  it("runs a setup for the current engine and every later one, cleaning up in between", function () {
    const registry = new BrokerRegistry();
    const log = [];
    const errors = [];
    registry.attach("b1", engineA);
    const stop = registry.use("b1", (e) => (log.push(`up ${e.name}`), () => log.push(`down ${e.name}`)), (err) => errors.push(err));
    registry.detach("b1", engineA);
    assert.equal(registry.engine("b1"), undefined);
    registry.attach("b1", engineB);
    assert.equal(registry.engine("b1"), engineB);
    stop();
    registry.detach("b1");
    assert.deepEqual(log, ["up A", "down A", "up B", "down B"]);
    assert.deepEqual(errors, []);
  });

  it("waits for a broker that starts later, and ignores a stale detach", function () {
    const registry = new BrokerRegistry();
    const log = [];
    registry.use("b1", (e) => (log.push(e.name), undefined), () => undefined);
    assert.deepEqual(log, []);
    registry.attach("b1", engineA);
    registry.detach("b1", engineB);
    assert.equal(registry.engine("b1"), engineA);
    assert.deepEqual(log, ["A"]);
  });

  it("reports a throwing setup or cleanup to its owner and keeps serving the others", function () {
    const registry = new BrokerRegistry();
    const errors = [];
    const log = [];
    registry.use("b1", () => { throw new Error("setup bug"); }, (err) => errors.push(err.message));
    registry.use("b1", () => () => { throw new Error("cleanup bug"); }, (err) => errors.push(err.message));
    registry.use("b1", (e) => (log.push(e.name), undefined), (err) => errors.push(err.message));
    registry.attach("b1", engineA);
    registry.detach("b1");
    assert.deepEqual(errors, ["setup bug", "cleanup bug"]);
    assert.deepEqual(log, ["A"]);
  });

  it("a setup that registers another one while the engine attaches runs it once (a fleet hosting its devices), and one removed meanwhile not at all", function () {
    const registry = new BrokerRegistry();
    const log = [];
    let stopLater;
    registry.use("b1", (e) => {
      log.push(`fleet ${e.name}`);
      registry.use("b1", (e2) => (log.push(`device ${e2.name}`), undefined), () => undefined);
      stopLater();
      return undefined;
    }, () => undefined);
    stopLater = registry.use("b1", (e) => (log.push(`removed ${e.name}`), undefined), () => undefined);
    registry.attach("b1", engineA);
    assert.deepEqual(log, ["fleet A", "device A"]);
  });
});
