// Bare aedes (the same 2.0.0-beta.1 the iot-broker wraps) on a plain `net` server, default options.
//   node --expose-gc bench/broker-bare.mjs auth   same username/password check as the iot-broker
//   node --expose-gc bench/broker-bare.mjs none   no hooks at all (reference line)
// Started by bench/run.mjs, which talks to it over IPC (see lib/broker-child.mjs).
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer } from "node:net";
import { Aedes } from "aedes";
import { BENCH_USER, runBrokerChild } from "./lib/broker-child.mjs";

const mode = process.argv[2] ?? "auth";
if (mode !== "auth" && mode !== "none") throw new Error(`mode must be "auth" or "none", not ${mode}`);

// The same check as nodes/lib/broker/users.ts: sha256 both sides, compare in constant time.
const digest = (b) => createHash("sha256").update(b).digest();
function authenticate(_client, username, password, done) {
  const ok = username === BENCH_USER.username && password !== undefined && timingSafeEqual(digest(BENCH_USER.password), digest(password));
  if (ok) done(null, true);
  else done(Object.assign(new Error("bad user name or password"), { returnCode: 4 }), false);
}

await runBrokerChild(`bare-${mode}`, async () => {
  const broker = await Aedes.createBroker(mode === "auth" ? { authenticate } : {});
  const server = createServer(broker.handle);
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  return {
    port: server.address().port,
    info: { mode },
    clients: () => broker.connectedClients,
    close: async () => {
      await new Promise((resolve) => broker.close(resolve));
      await new Promise((resolve) => server.close(() => resolve()));
    },
  };
});
