/**
 * MQTT packets as the store writes them: JSON, with Buffers (payloads, MQTT 5 correlation data)
 * as base64 under a key no packet field has, so a packet comes back with the same bytes and
 * the same MQTT 5 properties it went in with.
 */
const BUFFER_KEY = "\u0000b";

export function encodePacket(packet: object): string {
  return JSON.stringify(packet, function (this: Record<string, unknown>, key: string, value: unknown) {
    // JSON.stringify has already turned a Buffer into { type, data } by its toJSON: look at the original.
    const original = key === "" ? value : this[key];
    if (original instanceof Uint8Array) return { [BUFFER_KEY]: Buffer.from(original).toString("base64") };
    return value;
  });
}

export function decodePacket(text: string): Record<string, unknown> {
  return JSON.parse(text, (_key, value: unknown) => {
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      const encoded = (value as Record<string, unknown>)[BUFFER_KEY];
      if (typeof encoded === "string" && Object.keys(value).length === 1) return Buffer.from(encoded, "base64");
    }
    return value;
  }) as Record<string, unknown>;
}
