// Node-RED resolves a node's .html, icons/ and locales/ beside its .js file, so the build
// places them next to the compiled output in dist/nodes/ (see docs/ARCHITECTURE.md 1.3).
import { cpSync, existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "dist", "nodes");

for (const file of readdirSync(join(root, "nodes"))) {
  if (file.endsWith(".html")) cpSync(join(root, "nodes", file), join(out, file));
}
for (const dir of ["icons", "locales"]) {
  if (existsSync(join(root, dir))) cpSync(join(root, dir), join(out, dir), { recursive: true });
}
