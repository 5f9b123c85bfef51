/**
 * A fleet's table as CSV (RFC 4180: comma, double quotes, CRLF), for the editor's export and
 * import (docs/ARCHITECTURE.md 3.8). Columns: `name`, `id`, the credential fields (`token`,
 * ThingsBoard's `clientId`, `username`, `password`), `pins` ("V1=Temp, V2=Hum") and `meta`
 * (JSON). The export holds tokens in clear: it is answered only to who may change the fleet.
 * Import adds rows whose id (or, without one, name) is new and changes the others; an empty
 * credential keeps the device's (or generates one for a new device).
 */
import { toError } from "../transport/errors.js";
import { FleetError, type Fleet, type FleetDeviceInput } from "./fleet.js";

/** Rows per import: the fleet's own bound. */
const MAX_ROWS = 10_000;

export function fleetToCsv(fleet: Fleet): string {
  const devices = fleet.list().map((d) => ({ device: d, credentials: fleet.credentials({ id: d.id }) }));
  const fields = ["token"];
  for (const { credentials } of devices) for (const field of Object.keys(credentials)) if (!fields.includes(field)) fields.push(field);
  const header = ["name", "id", ...fields, "pins", "meta"];
  const rows = devices.map(({ device, credentials }) => [
    device.name,
    device.id,
    ...fields.map((f) => credentials[f] ?? ""),
    device.pins === undefined ? "" : Object.entries(device.pins).map(([pin, name]) => `${pin.toUpperCase()}=${name}`).join(", "),
    device.meta === undefined ? "" : JSON.stringify(device.meta),
  ]);
  return [header, ...rows].map((row) => row.map(csvField).join(",")).join("\r\n") + "\r\n";
}

export interface CsvImportResult {
  added: number;
  changed: number;
  /** Rows not taken, by line number (1 = the header), with why (never a credential). */
  errors: { line: number; error: string }[];
}

/** Imports `text` into the fleet row by row; a bad row is reported and skipped, the others still go in. */
export async function importFleetCsv(fleet: Fleet, text: string): Promise<CsvImportResult> {
  const rows = parseCsv(text);
  const header = rows.shift()?.map((h) => h.trim());
  if (header?.includes("name") !== true) throw new FleetError("invalid", "a fleet CSV starts with a header line naming its columns, at least name (e.g. name,id,token,pins,meta)");
  if (rows.length > MAX_ROWS) throw new FleetError("full", `a fleet CSV has at most ${MAX_ROWS} rows`);
  const result: CsvImportResult = { added: 0, changed: 0, errors: [] };
  for (const [index, row] of rows.entries()) {
    if (row.every((cell) => cell.trim() === "")) continue;
    const cell = (column: string): string => (row[header.indexOf(column)] ?? "").trim();
    try {
      const credentials: Record<string, string> = {};
      for (const column of header) if (!["name", "id", "pins", "meta"].includes(column) && cell(column) !== "") credentials[column] = cell(column);
      const input: FleetDeviceInput = {
        name: cell("name"),
        ...(Object.keys(credentials).length > 0 ? { credentials } : {}),
        ...(cell("pins") === "" ? {} : { pins: cell("pins") }),
        ...(cell("meta") === "" ? {} : { meta: parseMeta(cell("meta")) }),
      };
      const id = cell("id");
      const existing = id !== "" ? fleet.find({ id }) : fleet.find({ name: cell("name") });
      if (existing === undefined) {
        await fleet.add({ ...input, ...(id === "" ? {} : { id }) });
        result.added++;
      } else {
        await fleet.change({ id: existing.id }, input);
        result.changed++;
      }
    } catch (err) {
      result.errors.push({ line: index + 2, error: toError(err).message });
    }
  }
  return result;
}

function parseMeta(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new FleetError("invalid", "the meta column must be JSON, e.g. {\"floor\": 1}");
  }
}

function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** RFC 4180 fields; a lone LF ends a line too. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  const body = text.startsWith("\uFEFF") ? text.slice(1) : text;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (quoted) {
      if (c === '"' && body[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === "") quoted = true;
    else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && body[i + 1] === "\n") i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += c;
  }
  if (field !== "" || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}
