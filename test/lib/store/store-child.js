"use strict";
// A process of its own on a store file, forked by the store's specs: argv = [file, mode].
//   hold:  opens the store, says {ready, pid}, and keeps it open until told "close" (then exits 0).
//   burst: opens the store and writes without pause: each turn sets `counter` = i on device
//          d<i % DEVICES> and appends i to its history, for TURN values, then flushes; when a flush
//          resolves it reports {acked: n} (every value < n is committed). It never stops by itself:
//          the parent kill -9s it right after an acknowledgement, while the next turns are being written.
//   broker: runs a bare aedes (id "broker-under-test") on the store's aedes persistence, says {port}.
const { openSqliteStore } = require("../../../dist/nodes/lib/store/index.js");
const { startBareBroker } = require("../fixtures/bare-broker.js");

const [file, mode] = process.argv.slice(2);
const DEVICES = 10;
const TURN = 50;

const store = openSqliteStore(file, { history: { maxPerStream: 1_000_000 } });

if (mode === "hold") {
  process.on("message", (msg) => {
    if (msg === "close") {
      store.close();
      process.exit(0);
    }
  });
  process.send({ ready: true, pid: process.pid });
} else if (mode === "burst") {
  const devices = Array.from({ length: DEVICES }, (_, d) => store.deviceStores.open("toy", `d${d}`));
  let next = 0;
  const turn = () => {
    const end = next + TURN;
    for (; next < end; next++) {
      const d = next % DEVICES;
      devices[d].set("ds", "counter", next, 1_700_000_000_000 + next);
      store.history.append("toy", `d${d}`, "counter", 1_700_000_000_000 + next, next);
    }
    store.flush().then(
      () => process.send({ acked: end }),
      (err) => process.send({ error: err.message }),
    );
    setImmediate(turn);
  };
  turn();
} else if (mode === "broker") {
  const persistence = store.mqtt;
  startBareBroker({ id: "broker-under-test", persistence }).then((broker) => {
    broker.aedes.counter = Math.max(broker.aedes.counter, persistence.highestCounter("broker-under-test"));
    process.send({ port: broker.port });
  });
} else {
  throw new Error(`unknown mode ${mode}`);
}
