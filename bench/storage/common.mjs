// What the parts of bench/storage.mjs share: paths into dist/, sizes, the hosted devices' tokens.
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { positiveIntEnv, QUICK } from "../lib/env.mjs";

export const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
/** STORAGE_DIST=<a copy of dist/>: measure another build (a diagnostic: before and after a change). */
const DIST = process.env.STORAGE_DIST ?? join(root, "dist");
export const DIST_BROKER = join(DIST, "nodes", "lib", "broker");
export const DIST_STORE = join(DIST, "nodes", "lib", "store");
export const DIST_BLYNK = join(DIST, "nodes", "lib", "blynk");

export const SIZES = {
  /** Throughput: slices per kind and variant, and their length (as bench/ab.mjs). */
  slices: positiveIntEnv("STORAGE_SLICES", QUICK ? 8 : 40),
  sliceMs: positiveIntEnv("STORAGE_SLICE_MS", 300),
  /** Hosted devices sending one value a second, and for how long. */
  devices: positiveIntEnv("STORAGE_DEVICES", 1000),
  deviceSeconds: positiveIntEnv("STORAGE_DEVICE_SECONDS", QUICK ? 10 : 60),
  /** Start-up: values stored beforehand (history), over this many devices. */
  storedValues: positiveIntEnv("STORAGE_VALUES", QUICK ? 100_000 : 1_000_000),
  storedDevices: 1000,
  /** Fresh processes timed per kind (the median is reported). */
  startups: positiveIntEnv("STORAGE_STARTUPS", QUICK ? 1 : 3),
};

/** The iot-broker node ids of the scenarios: one each, so a shared server (Redis) keeps them apart. */
export const NODE_IDS = { throughput: "bench0storage01", devices: "bench0storage02", startup: "bench0storage03", startupEmpty: "bench0storage04" };

/** A hosted Blynk device's id and token (32 characters, as Blynk's). */
export const deviceId = (i) => `dev${String(i).padStart(5, "0")}`;
export const tokenOf = (i) => `BenchTok_${String(i).padStart(6, "0")}_abcdefghijklmnop`;

/** The datastream every bench device writes. */
export const STREAM = "Temperature";
