/**
 * The editor's fleet table (docs/ARCHITECTURE.md 3.8) through Node-RED's admin API, acting on
 * the running fleet of a deployed config node (the table is in the broker's storage: a device
 * added here can connect at once, no deploy needed):
 *
 *   GET    /<type>/:id/fleet                    -> {available, devices}        (<type>.read; no credentials)
 *   POST   /<type>/:id/fleet                    {device} -> device + credentials  (<type>.write)
 *   PUT    /<type>/:id/fleet/:device            {changes} -> device + credentials (<type>.write)
 *   POST   /<type>/:id/fleet/:device/renew      -> device + a new token           (<type>.write)
 *   DELETE /<type>/:id/fleet/:device            -> the removed device             (<type>.write)
 *   GET    /<type>/:id/fleet/:device/credentials -> {credentials}                 (<type>.write: they are secrets)
 *   GET    /<type>/:id/fleet/export             -> CSV with credentials           (<type>.write)
 *   POST   /<type>/:id/fleet/import             {csv} -> {added, changed, errors} (<type>.write)
 *
 * `:device` is the device's id. A config node that is not deployed (or not a fleet) answers 404;
 * a stopped broker 503. Answers are never cached. Node-RED glue: handed the node file's RED.
 */
import type { NodeAPI } from "node-red";
import { fleetOf, fleetToCsv, FleetError, importFleetCsv, runFleetAction, type Fleet, type FleetAction } from "../broker/index.js";
import { toError } from "../transport/errors.js";

interface Req {
  params: Record<string, unknown>;
  body?: unknown;
}

interface Res {
  set(field: string, value: string): Res;
  status(code: number): Res;
  json(body: unknown): void;
  type(type: string): Res;
  send(body: string): void;
}

const STATUS: Record<FleetError["code"], number> = { unavailable: 503, "unknown-device": 404, invalid: 400, duplicate: 409, full: 409 };

/** Mounts the routes for config node type `type` once per admin app. */
export function mountFleetAdmin(RED: NodeAPI, type: string): void {
  const app = RED.httpAdmin as typeof RED.httpAdmin | undefined;
  if (app === undefined) return;
  // Once per admin app and type (node files load once, tests start several runtimes).
  const marks = markers.get(app) ?? new Set<string>();
  markers.set(app, marks);
  if (marks.has(type)) return;
  marks.add(type);
  const read = RED.auth.needsPermission(`${type}.read`);
  const write = RED.auth.needsPermission(`${type}.write`);

  const fleetFor = (req: Req, res: Res): Fleet | undefined => {
    res.set("Cache-Control", "no-store");
    const fleet = fleetOf(param(req, "id"));
    const node = RED.nodes.getNode(param(req, "id")) as { type?: string } | null;
    if (fleet === undefined || node?.type !== type) {
      res.status(404).json({ error: RED._(`${type}.fleet.not-deployed`) });
      return undefined;
    }
    return fleet;
  };
  const answer = (res: Res, work: Promise<unknown>): void => {
    work.then(
      (body) => { res.json(body); },
      (err: unknown) => {
        const status = err instanceof FleetError ? STATUS[err.code] : 500;
        res.status(status).json({ error: toError(err).message, ...(err instanceof FleetError ? { code: err.code } : {}) });
      },
    );
  };
  const action = (name: FleetAction, payload: (req: Req) => unknown) => (req: Req, res: Res): void => {
    const fleet = fleetFor(req, res);
    if (fleet !== undefined) answer(res, Promise.resolve().then(() => runFleetAction(fleet, name, payload(req))));
  };
  const byId = (req: Req): { id: string } => ({ id: param(req, "device") });

  app.get(`/${type}/:id/fleet`, read, (req: Req, res: Res) => {
    const fleet = fleetFor(req, res);
    if (fleet !== undefined) res.json({ available: fleet.available, devices: fleet.list() });
  });
  app.get(`/${type}/:id/fleet/export`, write, (req: Req, res: Res) => {
    const fleet = fleetFor(req, res);
    if (fleet === undefined) return;
    res.type("text/csv").set("Content-Disposition", `attachment; filename="fleet-${param(req, "id")}.csv"`).send(fleetToCsv(fleet));
  });
  app.post(`/${type}/:id/fleet/import`, write, (req: Req, res: Res) => {
    const fleet = fleetFor(req, res);
    if (fleet === undefined) return;
    const csv: unknown = (req.body as { csv?: unknown } | undefined)?.csv;
    if (typeof csv !== "string") {
      res.status(400).json({ error: "the body must be JSON {\"csv\": \"<the CSV text>\"}" });
      return;
    }
    answer(res, importFleetCsv(fleet, csv));
  });
  app.post(`/${type}/:id/fleet`, write, action("add", (req) => req.body));
  app.put(`/${type}/:id/fleet/:device`, write, action("change", (req) => ({ ...(isObject(req.body) ? req.body : {}), id: param(req, "device") })));
  app.post(`/${type}/:id/fleet/:device/renew`, write, action("renew", byId));
  app.delete(`/${type}/:id/fleet/:device`, write, action("remove", byId));
  app.get(`/${type}/:id/fleet/:device/credentials`, write, (req: Req, res: Res) => {
    const fleet = fleetFor(req, res);
    if (fleet !== undefined) answer(res, Promise.resolve().then(() => ({ credentials: fleet.credentials(byId(req)) })));
  });
}

/** A route parameter as text ("" when absent). */
function param(req: Req, name: string): string {
  const value = req.params[name];
  return typeof value === "string" ? value : "";
}

const markers = new WeakMap<object, Set<string>>();

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
