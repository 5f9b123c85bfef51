// bench/storage.mjs's results as the tables of bench/README.md ("Issue 10: storage"), with verdicts.
import { fmt } from "../sqlite/common.mjs";

const MB = 1e6;
const verdict = (ok) => (ok ? "PASS" : "FAIL");

export function printReport(r) {
  const lines = [];
  const say = (s = "") => lines.push(s);
  say(
    `\nNode ${r.node}, ${r.cpus} CPUs (${r.cpu}), ${fmt(r.memGiB, 1)} GiB; load average ${fmt(r.load[0], 1)} -> ${fmt(r.load[1], 1)}; ` +
      `${fmt(r.seconds)} s${r.quick ? "; BENCH_QUICK (figures are a smoke check)" : ""}`,
  );
  const all = [...r.kinds, ...Object.keys(r.notMeasured)];
  const goalOf = (kind) => r.goals[kind];

  if (r.throughput) {
    say("\n### Throughput at QoS 1, vs memory (alternating slices)\n");
    say("| variant | kind | msg/s | vs memory (median of rounds) | broker µs CPU/msg | missing | goal | verdict |");
    say("|---|---|---:|---:|---:|---:|---:|---|");
    for (const [variant, v] of Object.entries(r.throughput)) {
      const base = v.rows.memory;
      for (const kind of all) {
        const row = v.rows[kind];
        // The goals are set for the setup of bench/run.mjs (clean sessions); the other variants are figures.
        const goal = variant === "clean" ? goalOf(kind) : undefined;
        if (!row) {
          say(`| ${variant} | ${kind} | not measured yet | | | | ${goal ? `>= ${goal}x` : ""} | ${r.notMeasured[kind] ?? ""} |`);
          continue;
        }
        const ratio = row.msgPerSec / base.msgPerSec;
        say(
          `| ${variant} | ${kind} | ${fmt(row.msgPerSec)} | ${fmt(ratio, 2)}x (${fmt(row.medianPairRatio, 2)}x) | ${fmt(row.cpuUsPerMsg, 1)} | ${fmt(row.missing)} | ` +
            `${goal ? `>= ${goal}x` : ""} | ${goal ? verdict(ratio >= goal) : ""} |`,
        );
      }
      say(`| | | ${fmt(v.seconds)} s; the machine: ${v.otherCores === undefined ? "n/a" : fmt(v.otherCores, 2)} cores busy (ours included), CPU pressure ${fmt(v.cpuPressure)}% | | | | | |`);
    }
  }

  if (r.devices) {
    const d = r.devices;
    say(`\n### ${fmt(d.devices)} hosted Blynk devices, one value a second each for ${d.seconds} s (all kinds at once)\n`);
    say("| kind | sent | PUBACKs | in the history (after reopen) | p50 ms | p90 ms | p99 ms | max ms | in the broker: p50 / p99 ms | broker CPU (cores) | all stored |");
    say("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for (const kind of all) {
      const row = d.rows[kind];
      if (!row) {
        say(`| ${kind} | not measured yet | | | | | | | | | ${r.notMeasured[kind] ?? ""} |`);
        continue;
      }
      const stored = row.history.points === row.acked && row.history.duplicates === 0 && row.errors === 0 && row.acked === row.sent;
      say(
        `| ${kind} | ${fmt(row.sent)} | ${fmt(row.acked)} | ${fmt(row.history.points)} | ${fmt(row.p50, 2)} | ${fmt(row.p90, 2)} | ${fmt(row.p99, 2)} | ${fmt(row.max, 1)} | ` +
          `${fmt(row.brokerSide?.p50, 2)} / ${fmt(row.brokerSide?.p99, 2)} | ${fmt(row.brokerCpuCores, 3)} | ${verdict(stored)} |`,
      );
    }
    say(`\nload average ${fmt(d.load[0], 1)} -> ${fmt(d.load[1], 1)}; the machine's busy cores over the run: ${d.machineCores === undefined ? "n/a" : fmt(d.machineCores, 2)}, CPU pressure ${fmt(d.cpuPressure)}% at the end; ` +
      `the load generator was at most ${fmt(Math.max(...Object.values(d.rows).map((x) => x.maxLateMs)), 1)} ms late with a send.`);
    for (const [kind, row] of Object.entries(d.rows)) {
      if (row.bytesClosed) say(`${kind}: after the run ${fmt(row.bytesLive?.total / MB, 2)} MB live, ${fmt(row.bytesClosed.total / MB, 2)} MB closed (${fmt(row.bytesClosed.total / row.history.points, 1)} B per value stored)`);
    }
  }

  if (r.startup) {
    say("\n### Start-up with stored values, and size\n");
    say("| kind | values stored | open storage ms | -> accepting connections ms | + 1,000 devices hosted ms | process start -> accepting ms | goal <= 3,000 ms | MB live (file + WAL) | MB closed (checkpointed) | MB per million values |");
    say("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|");
    const mb = (b) => (b ? fmt(b.total / MB, 1) : "n/a");
    const line = (kind, values, m, tail) =>
      say(`| ${kind} | ${fmt(values)} | ${fmt(m.openMs)} | ${fmt(m.acceptingMs)} | ${fmt(m.hostMs)} | ${fmt(m.sinceProcessStartMs)} | ${tail}`);
    for (const kind of all) {
      const s = r.startup[kind];
      if (!s) {
        say(`| ${kind} | not measured yet | | | | | | | | ${r.notMeasured[kind] ?? ""} |`);
        continue;
      }
      line(kind, 0, s.empty.median, "(nothing stored) | | | |");
      if (s.median) {
        const perMillion = s.bytesClosed && s.values ? fmt((s.bytesClosed.total / s.values / MB) * 1e6, 1) : "n/a";
        line(kind, s.values, s.median, `${verdict(s.median.acceptingMs <= 3000)} | ${mb(s.bytesLive)} | ${mb(s.bytesClosed)} | ${perMillion} |`);
        say(`|  | stored in ${fmt(s.fillMs / 1000, 1)} s; devices hosted with their stored value: ${fmt(s.median.withValue)} | | | | | | | | |`);
      }
    }
    const n = Object.values(r.startup)[0]?.empty.starts.length;
    say(`\nMedians of ${n} fresh processes each, the empty and the stored start in turn; CPU pressure at the end ${Object.values(r.startup).map((s) => `${fmt(s.cpuPressure)}%`).join(", ")}.`);
  }
  console.log(lines.join("\n"));
}
