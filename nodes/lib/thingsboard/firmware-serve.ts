/**
 * Self-hosted ThingsBoard OTA (docs/PROTOCOLS.md 4.6): answers a hosted device's chunk
 * requests (`v2/fw/request/<id>/chunk/<n>`) from the image a flow gave it
 * (broker/firmware-shelf.ts), as ThingsBoard does: the chunk size of a request id is
 * remembered for its later requests, a chunk past the end is empty, a chunk size over
 * ThingsBoard's payload limit or a package that is not there is answered on `v2/fw/error`.
 * Answers go through the connection's answer gate like every other answer (sent once a
 * subscription covers them, paced, bounded); a chunk is a view of the shelf's image, never a copy.
 *
 * Decision: ThingsBoard closes the connection after an error answer; here it stays open (the
 * device may ask again once the flow sent the firmware), and the device's report says why.
 */
import { firmwareShelf } from "../broker/index.js";
import type { DeviceConnection } from "../broker/device-connections.js";
import { toError } from "../transport/errors.js";
import { chunkOf, chunkResponseTopic, errorTopic, parseChunkSize, parseChunkTopic } from "./codec-firmware.js";
import { LIMITS } from "./codec.js";
import type { HostedDevice } from "./hosted-device.js";
import { TB_PLUGIN } from "./hosted-types.js";

/** ThingsBoard refuses chunk sizes over its maxPayloadSize. */
export const MAX_CHUNK_BYTES = LIMITS.maxPayloadBytes;
/** Request ids whose chunk size is remembered, per connection (a download uses one). */
const REMEMBERED_IDS = 16;

const chunkSizes = new WeakMap<object, Map<string, number>>();

/** Serves `topic` if it is a chunk request; false for every other topic. */
export function serveChunk(connection: DeviceConnection<HostedDevice>, topic: string, payload: Buffer): boolean {
  const request = parseChunkTopic(topic, "request");
  if (request === undefined) return false;
  const { device } = connection;
  const refuse = (status: string, why: string): true => {
    device.report(`OTA chunk request "${topic}" of "${device.name}" refused (${status}): ${why}`, "ota");
    connection.answers.answer([{ topic: errorTopic(request.type), payload: status }]);
    return true;
  };
  let asked: number | undefined;
  try {
    asked = parseChunkSize(payload);
  } catch (err) {
    return refuse("INVALID", toError(err).message);
  }
  let sizes = chunkSizes.get(connection);
  if (sizes === undefined) chunkSizes.set(connection, (sizes = new Map<string, number>()));
  const size = asked !== undefined && asked > 0 ? asked : (sizes.get(request.requestId) ?? 0);
  if (size > MAX_CHUNK_BYTES) return refuse("PAYLOAD_TOO_LARGE", `chunk size ${size} is over ${MAX_CHUNK_BYTES} bytes`);
  if (asked !== undefined && asked > 0) {
    sizes.delete(request.requestId);
    sizes.set(request.requestId, asked);
    const oldest = sizes.keys().next();
    if (sizes.size > REMEMBERED_IDS && oldest.done !== true) sizes.delete(oldest.value);
  }
  const image = firmwareShelf.imageOf(TB_PLUGIN, device.id, request.type);
  if (image === undefined) return refuse("NOT_FOUND", `no ${request.type} was sent to this device since Node-RED started; send it again from the flow`);
  connection.answers.answer([{ topic: chunkResponseTopic(request.requestId, request.chunk, request.type), payload: chunkOf(image.data, size, request.chunk) }]);
  return true;
}
