// Compares two V8 heap snapshots of the same process (e.g. the soak's SOAK_HEAP_SNAPSHOTS=1
// files) and lists what grew: per constructor (or string/array/closure kind) the change in count
// and self size, the objects present only in the later snapshot (node ids are stable within one
// process) grouped the same way, who holds those new objects (owner constructor and edge name),
// and the most repeated new strings.
//
//   node --max-old-space-size=4096 bench/heap-diff.mjs before.heapsnapshot after.heapsnapshot [top=25]
//
// Sizes are self sizes (V8's shallow size), not retained sizes: the "held by" table is what points
// at the growth, which is what finding a leak needs.
import { readFileSync } from "node:fs";

const [fileA, fileB, topArg] = process.argv.slice(2);
if (!fileA || !fileB) {
  console.error("usage: node bench/heap-diff.mjs before.heapsnapshot after.heapsnapshot [top=25]");
  process.exit(2);
}
const TOP = Number(topArg) > 0 ? Number(topArg) : 25;

function load(file) {
  const raw = JSON.parse(readFileSync(file, "utf8"));
  const meta = raw.snapshot.meta;
  const nf = meta.node_fields;
  const ef = meta.edge_fields;
  const heap = {
    nodes: raw.nodes,
    edges: raw.edges,
    strings: raw.strings,
    nodeTypes: meta.node_types[0],
    edgeTypes: meta.edge_types[0],
    N: nf.length,
    E: ef.length,
    nType: nf.indexOf("type"),
    nName: nf.indexOf("name"),
    nId: nf.indexOf("id"),
    nSize: nf.indexOf("self_size"),
    nEdges: nf.indexOf("edge_count"),
    eType: ef.indexOf("type"),
    eName: ef.indexOf("name_or_index"),
    eTo: ef.indexOf("to_node"),
  };
  heap.count = heap.nodes.length / heap.N;
  // First edge of each node (edges are stored node after node).
  heap.firstEdge = new Uint32Array(heap.count + 1);
  for (let i = 0, e = 0; i < heap.count; i++) {
    heap.firstEdge[i] = e;
    e += heap.nodes[i * heap.N + heap.nEdges] * heap.E;
    heap.firstEdge[i + 1] = e;
  }
  return heap;
}

function kind(h, i) {
  const type = h.nodeTypes[h.nodes[i * h.N + h.nType]];
  const name = h.strings[h.nodes[i * h.N + h.nName]];
  if (type === "object" || type === "native") return name.length > 80 ? `${name.slice(0, 77)}...` : name;
  if (type === "closure") return `(closure) ${name || "anonymous"}`;
  if (type === "array") return `(array) ${name}`;
  if (type.includes("string")) return "(string)";
  return `(${type})`;
}

function group(h, only) {
  const byKind = new Map();
  for (let i = 0; i < h.count; i++) {
    if (only && !only(i)) continue;
    const k = kind(h, i);
    const g = byKind.get(k) ?? { count: 0, size: 0 };
    g.count++;
    g.size += h.nodes[i * h.N + h.nSize];
    byKind.set(k, g);
  }
  return byKind;
}

const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
const pad = (s, n) => String(s).padStart(n);

console.error(`reading ${fileA} ...`);
const a = load(fileA);
console.error(`reading ${fileB} ...`);
const b = load(fileB);
const total = (h) => {
  let s = 0;
  for (let i = 0; i < h.count; i++) s += h.nodes[i * h.N + h.nSize];
  return s;
};
console.log(`before: ${a.count} objects, ${kib(total(a))}; after: ${b.count} objects, ${kib(total(b))}\n`);

const ga = group(a);
const gb = group(b);
const rows = [...new Set([...ga.keys(), ...gb.keys()])].map((k) => {
  const x = ga.get(k) ?? { count: 0, size: 0 };
  const y = gb.get(k) ?? { count: 0, size: 0 };
  return { k, count: y.count, dCount: y.count - x.count, dSize: y.size - x.size };
});
rows.sort((p, q) => q.dSize - p.dSize);
console.log(`grew most (self size), of ${rows.length} kinds:`);
console.log(`${pad("Δ size", 12)} ${pad("Δ count", 9)} ${pad("count", 9)}  kind`);
for (const r of rows.slice(0, TOP)) console.log(`${pad(kib(r.dSize), 12)} ${pad(r.dCount, 9)} ${pad(r.count, 9)}  ${r.k}`);

// Objects that exist only in the later snapshot.
const idsA = new Set();
for (let i = 0; i < a.count; i++) idsA.add(a.nodes[i * a.N + a.nId]);
const isNew = new Uint8Array(b.count);
for (let i = 0; i < b.count; i++) isNew[i] = idsA.has(b.nodes[i * b.N + b.nId]) ? 0 : 1;
const fresh = [...group(b, (i) => isNew[i] === 1).entries()].sort((p, q) => q[1].size - p[1].size);
console.log(`\nnew since the first snapshot (still alive), by kind:`);
for (const [k, g] of fresh.slice(0, TOP)) console.log(`${pad(kib(g.size), 12)} ${pad(g.count, 9)}  ${k}`);

// Who holds the new objects: owner kind + edge name, counted over the new objects' retainers
// (weak edges left out). An owner that is itself old marks where the growth hangs from.
const heldBy = new Map();
for (let from = 0; from < b.count; from++) {
  for (let e = b.firstEdge[from]; e < b.firstEdge[from + 1]; e += b.E) {
    const to = b.edges[e + b.eTo] / b.N;
    if (isNew[to] !== 1) continue;
    const et = b.edgeTypes[b.edges[e + b.eType]];
    if (et === "weak" || et === "shortcut") continue;
    const nameOrIndex = b.edges[e + b.eName];
    const edge = et === "element" || et === "hidden" ? `[${et}]` : String(b.strings[nameOrIndex]);
    const key = `${isNew[from] === 1 ? "new" : "OLD"} ${kind(b, from)} .${edge.slice(0, 40)} -> ${kind(b, to)}`;
    heldBy.set(key, (heldBy.get(key) ?? 0) + 1);
  }
}
console.log(`\nnew objects held by (owner: OLD = present in the first snapshot), most frequent:`);
for (const [k, n] of [...heldBy.entries()].sort((p, q) => q[1] - p[1]).slice(0, TOP * 2)) console.log(`${pad(n, 9)}  ${k}`);

const strings = new Map();
for (let i = 0; i < b.count; i++) {
  if (isNew[i] !== 1 || b.nodeTypes[b.nodes[i * b.N + b.nType]] !== "string") continue;
  const s = b.strings[b.nodes[i * b.N + b.nName]].replace(/\d+/g, "#").slice(0, 90);
  strings.set(s, (strings.get(s) ?? 0) + 1);
}
console.log(`\nnew strings (digits as #), most repeated:`);
for (const [s, n] of [...strings.entries()].sort((p, q) => q[1] - p[1]).slice(0, TOP)) console.log(`${pad(n, 9)}  ${JSON.stringify(s)}`);
