/**
 * Who holds a database file. node-sqlite3-wasm's file system layer locks a database with a
 * directory `<file>.lock` beside it (mkdir is atomic on every platform); the store opens in
 * SQLite's exclusive locking mode (WAL without shared memory needs it), so the directory stays
 * for as long as the file is open: one writer per file, across processes. A process that dies
 * without closing (kill -9, power loss) leaves the directory behind and every later open would
 * fail with "database is locked". So the store writes `<file>.owner` beside it (pid, host, boot,
 * process start) once it holds the lock, and before opening removes a lock whose owner is gone.
 */
import { readFileSync, rmSync, rmdirSync, statSync, writeFileSync } from "node:fs";
import { hostname, uptime } from "node:os";
import { StoreError } from "./store-error.js";

interface Owner {
  readonly pid: number;
  readonly host: string;
  /** Linux's boot id, when there is one. */
  readonly bootId?: string;
  /** When the machine booted (s since the epoch), for systems without a boot id. */
  readonly bootTime: number;
  /** The process's start time in clock ticks since boot (Linux), so a reused pid is not taken for the owner. */
  readonly start?: string;
}

/** A lock directory with no owner file this old is left over (a live opener writes its owner within milliseconds). */
const UNOWNED_STALE_MS = 10_000;
/** How far two readings of the boot time may differ for one boot (uptime and the clock are read apart). */
const BOOT_SLACK_S = 120;

export const lockDirOf = (file: string): string => `${file}.lock`;
export const ownerFileOf = (file: string): string => `${file}.owner`;

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

function processStart(pid: number): string | undefined {
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  // Field 22 (starttime); the command name (field 2) may hold spaces, so count after its ")".
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
}

function me(): Owner {
  const bootId = readText("/proc/sys/kernel/random/boot_id")?.trim();
  return {
    pid: process.pid,
    host: hostname(),
    ...(bootId === undefined ? {} : { bootId }),
    bootTime: Math.round(Date.now() / 1000 - uptime()),
    ...(processStart(process.pid) === undefined ? {} : { start: processStart(process.pid) }),
  };
}

function parseOwner(text: string | undefined): Owner | undefined {
  if (text === undefined) return undefined;
  try {
    const o = JSON.parse(text) as Partial<Owner> | null;
    if (typeof o?.pid !== "number" || typeof o.host !== "string" || typeof o.bootTime !== "number") return undefined;
    return o as Owner;
  } catch {
    return undefined;
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Whether `owner` is a process that still runs (on another host: assumed so, it cannot be checked). */
function alive(owner: Owner, self: Owner): boolean {
  if (owner.host !== self.host) return true;
  if (owner.bootId !== undefined && self.bootId !== undefined) {
    if (owner.bootId !== self.bootId) return false;
  } else if (Math.abs(owner.bootTime - self.bootTime) > BOOT_SLACK_S) return false;
  if (!isRunning(owner.pid)) return false;
  return owner.start === undefined || processStart(owner.pid) === undefined || processStart(owner.pid) === owner.start;
}

/**
 * Before opening `file`: removes a lock its owner left behind when it died; refuses, naming the
 * holder, when the owner still runs. Two processes recovering the same stale lock at the same
 * instant could both proceed: a restart after a crash is one process, so that is not guarded.
 */
export function clearStaleLock(file: string): void {
  const lockDir = lockDirOf(file);
  let lockedAt: number;
  try {
    lockedAt = statSync(lockDir).mtimeMs;
  } catch {
    return; // no lock
  }
  const self = me();
  const owner = parseOwner(readText(ownerFileOf(file)));
  if (owner === undefined) {
    if (Date.now() - lockedAt < UNOWNED_STALE_MS) {
      throw new StoreError("locked", file, "the database is being opened by another process (its lock is new and has no owner yet)");
    }
  } else if (alive(owner, self)) {
    const who = owner.pid === self.pid && owner.host === self.host ? "this process already has it open" : `process ${owner.pid} on ${owner.host} has it open`;
    throw new StoreError("locked", file, `the database is in use: ${who} (one writer per file)`);
  }
  try {
    rmdirSync(lockDir);
    rmSync(ownerFileOf(file), { force: true });
  } catch (err) {
    throw new StoreError("io", file, `cannot remove the stale lock ${lockDir} left by a process that is gone: ${(err as Error).message}`, err);
  }
}

/** Once the lock is ours: records who holds it. */
export function recordOwner(file: string): void {
  try {
    writeFileSync(ownerFileOf(file), JSON.stringify(me()));
  } catch (err) {
    throw new StoreError("io", file, `cannot write ${ownerFileOf(file)}: ${(err as Error).message}`, err);
  }
}

/** After closing (the lock is gone): removes the owner file, unless a new opener already wrote its own. */
export function dropOwner(file: string): void {
  try {
    const owner = parseOwner(readText(ownerFileOf(file)));
    const self = me();
    if (owner?.pid === self.pid && owner.host === self.host) rmSync(ownerFileOf(file), { force: true });
  } catch {
    // Harmless: the next opener finds no lock directory, or a lock whose owner is this process after it closed.
  }
}
