/**
 * Blynk's binary hardware protocol, the codec layer (docs/PROTOCOLS.md 3): no sockets, no
 * Node-RED. The server (hosted devices on `iot-broker`'s `blynkPort`) and the client
 * (`blynk-device` with `connection: "binary"`) share it:
 *
 *   const decoder = new FrameDecoder({ from: "device", maxBody: 1024 });
 *   socket.on("data", (chunk) => {
 *     const { frames, error } = decoder.push(chunk);
 *     for (const frame of frames) handle(parseMessage(frame, "device")); // may throw TransportError (status to answer)
 *     if (error) close(error.message);                                  // BlynkFrameError: stop reading
 *   });
 *   socket.write(encodeMessage({ type: "response", id: 1, status: Status.SUCCESS }, { to: "device" }));
 *
 * Decisions where the protocol facts leave room:
 * - Message id 0 is refused in every frame, RESPONSE included (the device drops the connection on
 *   any). A RESPONSE's status is not checked by the decoder (the length field is no length);
 *   the encoder sends only the statuses of the table.
 * - The decoder takes only the commands the sending side sends (`DEVICE_SENDS`/`SERVER_SENDS`,
 *   every library version's, so LOGIN and the legacy notify commands too). The client refuses a
 *   server's LOGIN/HW_LOGIN (meant for direct app connections) and any unknown command, as a device
 *   does. Anything refused stops the decoder: after a header that cannot be trusted the stream
 *   cannot be resynchronised.
 * - Body lengths checked from the header: PING has none; HARDWARE_SYNC and DEBUG_PRINT may be
 *   empty; every other command needs a body. A body over `maxBody` (default 256, a device's
 *   read buffer) is "oversize" before a byte of it is buffered. A server may raise its own
 *   inbound limit (firmware built with a larger BLYNK_MAX_SENDBYTES); what it sends a device
 *   stays within that device's `buff-in` (`sendLimit(info)`), 256 when it sent none.
 * - Bodies are UTF-8 (invalid bytes read as U+FFFD). The npm `blynk-library` writes its strings
 *   as Latin-1 and counts characters; for ASCII, which is what firmware sends, both agree.
 * - Trailing NUL: tolerated where fields are names or numbers (sync pins, reads, pin modes,
 *   rtc/utc/ota, GROUP, REDIRECT, login, EVENT_CLEAR) and in the info message where it leaves a
 *   key without value. Value lists (`vw` values, PROPERTY values, an unknown INTERNAL's fields)
 *   are exact, because an empty last value is how the libraries send "": `vw\05\0` writes "" and
 *   so does `vw\05`.
 * - Pins are 0..255 in decimal (`uint8_t` in every library); named analog pins (`A0` in a `dw`)
 *   are refused. `pm` modes are in, out, pwm, pu, pd.
 * - The info message is an INTERNAL body whose first field is an info key of any version (`ver`,
 *   `mcu`, `ncp`, `blynk`, `h-beat`, `buff-in`, `dev`, `cpu`, `con`/`conn`, `fw-type`, `fw`,
 *   `build`, `tmpl`); pairs in any order, the last of a repeated key wins, unknown keys in
 *   `other`. `h-beat` and `buff-in` must be whole numbers >= 1. Encoded, `ver` goes first (the
 *   legacy server only applies an info message whose first key starts with v, f, h, b, d, c or t).
 * - INTERNAL sub-commands by their first field: `rtc` (`sync`, or seconds), `utc` (one field is a
 *   request, more an answer), `ota <url>`, `meta set <field> <value>`, `acon`/`adis`; any other
 *   first field that is no info key (`vfs`, `dbg`, new ones) is kind "other" with its fields exactly
 *   as sent.
 *   `utcAnswer` builds time/iso/tz/tz_name/tz_rule answers; `dst_next` is left unanswered.
 * - Login tokens are trimmed (as the legacy server does) and never appear in an error; a bridge
 *   `i` token neither. BRIDGE from a device carries its channel (`bridge`); from the server to the
 *   target device it is a plain hardware body (`bridged`), which devices handle as HARDWARE.
 * - EMAIL has three fields (to, subject, body) or two (subject, body: the address is the
 *   server's to choose). REDIRECT without a port means port 80, so the encoder always sends one
 *   and refuses hosts over 63 characters (what a device keeps).
 * - Errors: a frame is a BlynkFrameError (`reason`: unknown-command, zero-id, oversize,
 *   bad-length, truncated); a body is a TransportError "invalid" whose `status` is the answer,
 *   ILLEGAL_COMMAND (2) for an unknown hardware operation, else ILLEGAL_COMMAND_BODY (11).
 */
export * from "./commands.js";
export * from "./errors.js";
export * from "./frame.js";
export * from "./decoder.js";
export * from "./fields.js";
export * from "./types.js";
export * from "./hardware.js";
export * from "./internal.js";
export * from "./messages.js";
