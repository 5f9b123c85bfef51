// The knobs every benchmark reads from the environment.
export const QUICK = process.env.BENCH_QUICK === "1";
export const VERBOSE = process.env.BENCH_VERBOSE === "1";

/** A positive whole number from the environment variable `name`, else `fallback`. */
export function positiveIntEnv(name, fallback) {
  const v = Number.parseInt(process.env[name] ?? "", 10);
  return Number.isInteger(v) && v > 0 ? v : fallback;
}
