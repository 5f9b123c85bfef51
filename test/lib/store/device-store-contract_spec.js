"use strict";
// One behaviour table (test/support/device-store-contract.js) for every DeviceStore: memory, and
// SQLite with a flush and a reopen on a new provider after each case.
const path = require("node:path");
const { MemoryDeviceStores } = require("../../../dist/nodes/lib/broker/index.js");
const { deviceStoreContract } = require("../../support/device-store-contract.js");
const { tempDir, removeTempDirs, opener } = require("./fixtures.js");

deviceStoreContract("MemoryDeviceStore", () => ({ store: new MemoryDeviceStores().open("toy", "device-1") }));

describe("SQLite stores under the contract", function () {
  const stores = opener();
  afterEach(function () {
    stores.closeAll();
    removeTempDirs();
  });

  const sqlite = (flushEach) => () => {
    const file = path.join(tempDir(), "nested", "folder", "broker.db");
    let current = stores.open(file);
    return {
      store: current.deviceStores.open("toy", "device-1"),
      flushEach,
      reopen: () => {
        current.close();
        current = stores.open(file);
        return current.deviceStores.open("toy", "device-1");
      },
    };
  };
  deviceStoreContract("SqliteDeviceStores, writes committed together", sqlite(false));
  deviceStoreContract("SqliteDeviceStores, a commit after every step", sqlite(true));
});
