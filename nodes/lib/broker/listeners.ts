/** Network listeners that feed connections into the broker: TCP, TLS, WebSocket (own port or attached). */
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from "node:http";
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import type { Duplex } from "node:stream";
import { WebSocketServer, createWebSocketStream, type WebSocket } from "ws";
import type { ListenerConfig, ListenerInfo } from "./types.js";

/** Takes the stream over, its errors included: a plain TCP socket gets no error listener here. */
export type ConnectionHandler = (stream: Duplex, request?: IncomingMessage) => void;

/** What a listener enforces before the broker sees a byte. */
export interface ListenerLimits {
  /**
   * Largest WebSocket message: ws buffers a whole message before passing it on (100 MiB by
   * default), and refuses one declaring more than this from its frame header, unbuffered.
   */
  maxPacketSize?: number;
  /** Largest WebSocket message until the broker first answers (its CONNACK). */
  maxConnectPacketSize?: number;
  /** TLS handshakes that take longer are dropped (Node's default is 120 s). */
  handshakeTimeoutMs?: number;
}

export interface Listener {
  readonly info: ListenerInfo;
  /** Stops accepting, destroys live connections, frees the port. */
  close(): Promise<void>;
}

/** Raised when a listener cannot start; `code` is "address-in-use" or "listen-failed". */
export class ListenError extends Error {
  override readonly name = "ListenError";
  constructor(
    readonly code: "address-in-use" | "listen-failed",
    readonly what: string,
    message: string,
    readonly host?: string,
    readonly port?: number,
  ) {
    super(message);
  }
}

export function describeListener(config: ListenerConfig): string {
  switch (config.kind) {
    case "tcp":
      return config.protocol === undefined ? `mqtt://${config.host}:${config.port}` : `${config.protocol} protocol on tcp://${config.host}:${config.port}`;
    case "tls":
      return config.protocol === undefined ? `mqtts://${config.host}:${config.port}` : `${config.protocol} protocol on tls://${config.host}:${config.port}`;
    case "ws":
      return `ws://${config.host}:${config.port}${config.path ?? ""}`;
    case "ws-attach":
      return `WebSocket path ${config.path} on the Node-RED HTTP server`;
  }
}

export async function startListener(config: ListenerConfig, handle: ConnectionHandler, limits: ListenerLimits = {}): Promise<Listener> {
  // Left out when not given: ws reads an explicit `undefined` as 0, i.e. no limit at all.
  const maxPayload = limits.maxPacketSize === undefined ? {} : { maxPayload: limits.maxPacketSize };
  switch (config.kind) {
    case "tcp":
    case "tls": {
      const onSocket = (socket: Socket): void => {
        handle(socket);
      };
      const handshake = limits.handshakeTimeoutMs === undefined ? {} : { handshakeTimeout: limits.handshakeTimeoutMs };
      const server = config.kind === "tcp" ? createNetServer(onSocket) : createTlsServer({ ...config.tls, ...handshake }, onSocket);
      return listenNet(server, config, describeListener(config));
    }
    case "ws": {
      const http = createHttpServer((_req, res) => {
        res.writeHead(426, { "content-type": "text/plain" }).end("MQTT over WebSocket: upgrade required\n");
      });
      const wss = new WebSocketServer({ server: http, path: config.path, handleProtocols: pickMqttProtocol, ...maxPayload });
      wss.on("connection", (ws, req) => {
        acceptWebSocket(ws, req, handle, limits);
      });
      wss.on("error", () => undefined); // errors surface through the HTTP server's listen
      const net = await listenNet(http, config, describeListener(config));
      return {
        info: { ...net.info, path: config.path },
        close: async () => {
          closeWebSockets(wss);
          await net.close();
        },
      };
    }
    case "ws-attach":
      return attachWebSocket(config.server, config.path, handle, maxPayload, limits);
  }
}

function pickMqttProtocol(protocols: Set<string>): string | false {
  for (const p of ["mqtt", "mqttv3.1"]) if (protocols.has(p)) return p;
  return protocols.size === 0 ? false : (protocols.values().next().value ?? false);
}

function acceptWebSocket(ws: WebSocket, req: IncomingMessage, handle: ConnectionHandler, limits: ListenerLimits): void {
  limitUntilFirstAnswer(ws, limits);
  const stream = createWebSocketStream(ws);
  // A stream error (peer vanished) must not become an uncaught exception; aedes also listens.
  stream.on("error", () => undefined);
  handle(stream, req);
}

/**
 * Before login a WebSocket message may be only as large as a CONNECT packet: ws sets its limit
 * per server, so this connection's receiver gets the smaller one (ws 8's private `_maxPayload`,
 * checked from each frame header) until the broker first sends something, its CONNACK. If ws
 * ever renames the field this does nothing and the server-wide maxPacketSize still holds.
 */
function limitUntilFirstAnswer(ws: WebSocket, limits: ListenerLimits): void {
  const receiver = (ws as unknown as { _receiver?: { _maxPayload?: unknown } })._receiver;
  const { maxConnectPacketSize: before, maxPacketSize: after } = limits;
  if (!receiver || typeof receiver._maxPayload !== "number" || before === undefined || after === undefined) return;
  receiver._maxPayload = before;
  const send = ws.send.bind(ws);
  ws.send = ((...args: Parameters<WebSocket["send"]>) => {
    receiver._maxPayload = after;
    delete (ws as Partial<Pick<WebSocket, "send">>).send; // the prototype's again from here on
    send(...args);
  }) as WebSocket["send"];
}

function closeWebSockets(wss: WebSocketServer): void {
  for (const ws of wss.clients) ws.terminate();
  wss.close();
}

function attachWebSocket(server: HttpServer, path: string, handle: ConnectionHandler, maxPayload: { maxPayload?: number }, limits: ListenerLimits): Listener {
  const wss = new WebSocketServer({ noServer: true, handleProtocols: pickMqttProtocol, ...maxPayload });
  wss.on("connection", (ws: WebSocket, req: IncomingMessage) => {
    acceptWebSocket(ws, req, handle, limits);
  });
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    let pathname: string;
    try {
      pathname = new URL(req.url ?? "/", "http://localhost").pathname;
    } catch {
      return;
    }
    if (pathname !== path) return; // someone else's upgrade (Node-RED comms, websocket nodes)
    wss.handleUpgrade(req, socket, head, (ws) => {
      wss.emit("connection", ws, req);
    });
  };
  server.on("upgrade", onUpgrade);
  return {
    info: { kind: "ws-attach", path },
    close: () => {
      server.off("upgrade", onUpgrade);
      closeWebSockets(wss);
      return Promise.resolve();
    },
  };
}

/** Open sockets a listener keeps before it sweeps out closed ones. */
const SWEEP_MIN = 1024;

/** Listens, tracking sockets so close() can free the port at once even with clients connected. */
function listenNet(
  server: NetServer | HttpServer,
  config: { kind: ListenerConfig["kind"]; host: string; port: number },
  what: string,
): Promise<Listener> {
  // No listener per socket: each one costs memory per idle connection (~200 bytes for these two,
  // bench/README.md). Closed sockets are swept out whenever the set has doubled instead.
  const sockets = new Set<Socket>();
  let sweepAt = SWEEP_MIN;
  // A plain TCP socket goes straight to the broker, which handles its errors from then on
  // (aedes listens for its life; the engine while it holds it back); TLS and HTTP servers hand
  // over another stream, so their raw socket's errors are ignored here.
  const handedOver = config.kind === "tcp";
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    if (sockets.size >= sweepAt) {
      for (const s of sockets) if (s.destroyed) sockets.delete(s);
      sweepAt = Math.max(SWEEP_MIN, sockets.size * 2);
    }
    if (!handedOver) socket.on("error", ignoreSocketError); // reported by aedes as a client error
  });
  // TLS handshake failures (bad client certs, port scanners, the handshake timeout) are not ours
  // to crash on; with a listener here Node leaves closing the socket to us.
  server.on("tlsClientError", (_err: Error, socket: Duplex) => {
    socket.destroy();
  });
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.close();
      reject(
        err.code === "EADDRINUSE"
          ? new ListenError("address-in-use", what, `${what}: port ${config.port} on ${config.host} is already in use`, config.host, config.port)
          : new ListenError("listen-failed", what, `${what}: ${err.message}`),
      );
    };
    server.once("error", onError);
    server.listen(config.port, config.host, () => {
      server.off("error", onError);
      server.on("error", () => undefined); // after listening, errors are per-connection
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : config.port;
      resolve({
        info: { kind: config.kind, host: config.host, port },
        close: () =>
          new Promise<void>((done) => {
            server.close(() => {
              done();
            });
            for (const s of sockets) s.destroy();
          }),
      });
    });
  });
}

function ignoreSocketError(): void {
  // Nothing: aedes reports the error as a client error.
}
