"use strict";
// Temp folders for the store's specs: real SQLite files on the real disk, removed after each spec.
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const store = require("../../../dist/nodes/lib/store/index.js");

const made = [];

/** A new empty folder under the OS temp folder (removed by `removeTempDirs`). */
function tempDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "iotb-store-"));
  made.push(dir);
  return dir;
}

function removeTempDirs() {
  for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

/** Opens stores and closes whatever a spec left open. */
function opener() {
  const open = new Set();
  return {
    open(file, options) {
      const s = store.openSqliteStore(file, options);
      open.add(s);
      const close = s.close;
      s.close = () => {
        open.delete(s);
        close();
      };
      return s;
    },
    closeAll() {
      for (const s of [...open]) {
        try {
          s.close();
        } catch {
          // a spec that broke its store on purpose
        }
      }
    },
  };
}

module.exports = { store, tempDir, removeTempDirs, opener };
