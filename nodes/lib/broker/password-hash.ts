/**
 * Salted scrypt hashes of broker users' passwords, in a self-describing string:
 *
 *   $scrypt$ln=14,r=8,p=1$<salt, base64>$<key, base64>
 *
 * (ln = log2 of scrypt's N), so stronger parameters can be adopted later without breaking the
 * stored ones. scrypt runs on libuv's thread pool, which Node-RED shares with file and DNS work:
 * at most two run at once and a bounded number wait; beyond that a check is refused as busy
 * rather than queued without end (a flood of CONNECTs with wrong passwords must not stall Node-RED).
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from "node:crypto";

const PREFIX = "$scrypt$";
const DEFAULT = { ln: 14, r: 8, p: 1 } as const;
const SALT_BYTES = 16;
const KEY_BYTES = 32;
/** MQTT's limit for a password field (a two-byte length). */
export const MAX_PASSWORD_BYTES = 65535;
/** Hashes come from flow files: refuse parameters that would cost more than this much memory. */
const MAX_MEMORY_BYTES = 64 * 1024 * 1024;
const MAX_RUNNING = 2;
const MAX_WAITING = 64;

/** Too many hash computations at once; the caller refuses (CONNACK 3 / HTTP 503) instead of queueing. */
export class PasswordCheckBusy extends Error {
  override readonly name = "PasswordCheckBusy";
  constructor() {
    super("too many password checks at once; try again shortly");
  }
}

interface ParsedHash {
  options: ScryptOptions;
  salt: Buffer;
  key: Buffer;
}

/** Parses a stored hash; undefined when it is not one this module wrote (or its cost is out of bounds). */
function parseHash(text: string): ParsedHash | undefined {
  const match = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,3}),p=(\d{1,2})\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/.exec(text);
  if (!match) return undefined;
  const [ln, r, p] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const salt = Buffer.from(match[4], "base64");
  const key = Buffer.from(match[5], "base64");
  if (ln < 1 || ln > 20 || r < 1 || p < 1 || salt.length < 8 || key.length < 16 || key.length > 64) return undefined;
  const N = 2 ** ln;
  // scrypt needs about 128 * N * r bytes; p multiplies the work, not the memory.
  const memory = 128 * N * r;
  if (memory > MAX_MEMORY_BYTES || p > 16) return undefined;
  return { options: { N, r, p, maxmem: memory + 1024 * 1024 }, salt, key };
}

/** True when `text` is a password hash this broker can check. */
export function isPasswordHash(text: unknown): text is string {
  return typeof text === "string" && text.startsWith(PREFIX) && parseHash(text) !== undefined;
}

/** A new salted hash of `password`. Rejects with PasswordCheckBusy when too many are running. */
export async function hashPassword(password: string | Buffer): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const N = 2 ** DEFAULT.ln;
  const key = await derive(password, salt, KEY_BYTES, { N, r: DEFAULT.r, p: DEFAULT.p, maxmem: 128 * N * DEFAULT.r + 1024 * 1024 });
  return `${PREFIX}ln=${String(DEFAULT.ln)},r=${String(DEFAULT.r)},p=${String(DEFAULT.p)}$${salt.toString("base64")}$${key.toString("base64")}`;
}

/**
 * Whether `password` matches `hash` (constant-time comparison of the derived keys). False for a
 * malformed hash; rejects with PasswordCheckBusy when too many checks are running.
 */
export async function verifyPassword(hash: string, password: string | Buffer): Promise<boolean> {
  const parsed = parseHash(hash);
  if (!parsed) return false;
  const derived = await derive(password, parsed.salt, parsed.key.length, parsed.options);
  return timingSafeEqual(derived, parsed.key);
}

let running = 0;
/** Callers waiting for a slot; a finishing computation hands its slot to the first one. */
const waiting: (() => void)[] = [];

async function acquire(): Promise<void> {
  if (running < MAX_RUNNING) {
    running++;
    return;
  }
  if (waiting.length >= MAX_WAITING) throw new PasswordCheckBusy();
  await new Promise<void>((resolve) => waiting.push(resolve));
}

function release(): void {
  const next = waiting.shift();
  if (next) next();
  else running--;
}

async function derive(password: string | Buffer, salt: Buffer, length: number, options: ScryptOptions): Promise<Buffer> {
  await acquire();
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      scrypt(password, salt, length, options, (err, key) => {
        if (err) reject(err);
        else resolve(key);
      });
    });
  } finally {
    release();
  }
}
