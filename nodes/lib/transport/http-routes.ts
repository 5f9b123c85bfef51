/**
 * Whether another route of the express app a request is in would answer it: an API served at
 * the root of Node-RED's HTTP node app (Blynk's legacy API) asks this before it answers a path
 * it only might own, so a flow's `http in` node on the same path keeps it.
 *
 * Express keeps its routes in the app's router stack (`app._router` in express 4, `app.router`
 * in 5); each route layer matches a path and says which methods it handles. This reads that
 * structure defensively: anything unexpected counts as "no other route", never as a throw.
 */

/** What is read of an express route layer. */
interface RouteLayer {
  route?: { _handles_method?: (method: string) => boolean };
  match?: (path: string) => boolean;
}

/** What is read of a request express is routing: the app it is in. */
interface RoutedRequest {
  app?: { _router?: { stack?: unknown }; router?: { stack?: unknown } };
}

function stackOf(req: unknown): readonly RouteLayer[] {
  const app = (req as RoutedRequest | null | undefined)?.app;
  // express 4 has `_router` (created lazily), express 5 `router`; a plain Node server has neither.
  const stack = app?._router?.stack ?? app?.router?.stack;
  return Array.isArray(stack) ? (stack as RouteLayer[]) : [];
}

/** True when a route (not a middleware) of the request's express app matches `method` and `path`. */
export function otherRouteServes(req: unknown, method: string, path: string): boolean {
  try {
    for (const layer of stackOf(req)) {
      if (layer.route === undefined || typeof layer.match !== "function") continue;
      // match() only sets the layer's params; express sets them afresh before it runs a layer.
      if (layer.match(path) && layer.route._handles_method?.(method) === true) return true;
    }
  } catch {
    // A path express cannot decode (match throws on bad escapes) matches no route of it either.
  }
  return false;
}
