/**
 * Frames <-> typed messages (docs/PROTOCOLS.md 3.2): `parseMessage` for what a peer sent (a
 * TransportError "invalid" with the status to answer when a body makes no sense),
 * `encodeMessage` for what we send (refused when the peer would drop the connection for it).
 */
import { TransportError } from "../../transport/errors.js";
import { describeValue } from "../../transport/value-codec.js";
import { assertEventCode, assertPropertyName, quote } from "../codec-values.js";
import { Command, describeCommand, sentBy, type Side } from "./commands.js";
import { asIllegalBody, illegalBody, illegalCommand } from "./errors.js";
import { fieldsOf, fieldsTrimmed, joinFields, parsePin, parseWhole, pinText, textField, wholeText } from "./fields.js";
import { encodeFrame, type Frame, type FrameToSend, type SendOptions } from "./frame.js";
import { bridgeFields, hardwareFields, parseBridge, parseHardware, parseSync, syncFields } from "./hardware.js";
import { internalFields, parseInternal } from "./internal.js";
import type { BlynkMessage } from "./types.js";

const TYPES = "response, login, ping, hardware, bridge, bridged, sync, internal, property, event, event-clear, notify, tweet, sms, email, group, redirect, debug-print";

/** A device copies at most 63 characters of a redirect's host. */
export const MAX_REDIRECT_HOST = 63;
/** Where a device goes when a redirect names no port (even over TLS): always send one. */
export const REDIRECT_DEFAULT_PORT = 80;

function invalid(message: string): TransportError {
  return new TransportError("invalid", message);
}

/** Body text with one trailing NUL tolerated. */
function textOf(body: Buffer): string {
  const text = body.toString("utf8");
  return text.endsWith("\0") ? text.slice(0, -1) : text;
}

/** Exact fields, with one trailing empty field tolerated when that makes `counts` fit. */
function fieldsFitting(body: Buffer, counts: number[], what: string): string[] {
  const fields = fieldsOf(body);
  if (counts.includes(fields.length)) return fields;
  if (fields.length > 1 && fields[fields.length - 1] === "" && counts.includes(fields.length - 1)) return fields.slice(0, -1);
  throw illegalBody(`${what} takes ${counts.join(" or ")} fields, got ${fields.length}`);
}

function loginToken(body: Buffer): string {
  // Trimmed as the legacy server does; never quoted in an error.
  const token = textOf(body).trim();
  if (token === "") throw illegalBody("login without a token");
  if (token.includes("\0")) throw illegalBody("login token contains NUL");
  return token;
}

function checked<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw asIllegalBody(err);
  }
}

/** A frame `from` sent -> its message. */
export function parseMessage(frame: Frame, from: Side): BlynkMessage {
  const { command, id, body } = frame;
  if (!sentBy(from).has(command)) throw illegalCommand(`command ${describeCommand(command)} is not one a ${from} sends`);
  switch (command) {
    case Command.RESPONSE:
      return { type: "response", id, status: frame.status ?? 0 };
    case Command.LOGIN:
    case Command.HW_LOGIN:
      return { type: "login", id, token: loginToken(body), legacy: command === Command.LOGIN };
    case Command.PING:
      return { type: "ping", id };
    case Command.HARDWARE:
      return { type: "hardware", id, ...parseHardware(body) };
    case Command.BRIDGE:
      return from === "device" ? { type: "bridge", id, ...parseBridge(body) } : { type: "bridged", id, ...parseHardware(body) };
    case Command.HARDWARE_SYNC:
      return { type: "sync", id, ...parseSync(body) };
    case Command.INTERNAL:
      return { type: "internal", id, ...parseInternal(body) };
    case Command.PROPERTY: {
      const fields = fieldsOf(body);
      const pin = parsePin(fields[0], "PROPERTY");
      const property = fields[1] ?? "";
      checked(() => { assertPropertyName(property); });
      if (fields.length < 3) throw illegalBody(`PROPERTY ${pin} ${property} has no value`);
      return { type: "property", id, pin, property, values: fields.slice(2) };
    }
    case Command.EVENT_LOG: {
      const fields = fieldsFitting(body, [1, 2], "EVENT_LOG");
      const code = fields.at(0) ?? "";
      const description = fields.at(1);
      checked(() => { assertEventCode(code); });
      return description === undefined ? { type: "event", id, code } : { type: "event", id, code, description };
    }
    case Command.EVENT_CLEAR: {
      const fields = fieldsTrimmed(body);
      const code = fields.at(0) ?? "";
      const all = fields.at(1);
      checked(() => { assertEventCode(code); });
      if (fields.length > 2 || (all !== undefined && all !== "all")) throw illegalBody(`EVENT_CLEAR takes an event code and optionally "all"`);
      return { type: "event-clear", id, code, all: all === "all" };
    }
    case Command.NOTIFY:
    case Command.TWEET:
    case Command.SMS: {
      const type = command === Command.NOTIFY ? "notify" : command === Command.TWEET ? "tweet" : "sms";
      return { type, id, text: textOf(body) };
    }
    case Command.EMAIL: {
      const fields = fieldsFitting(body, [2, 3], "EMAIL");
      const [a = "", b = "", c = ""] = fields;
      return fields.length === 3 ? { type: "email", id, to: a, subject: b, body: c } : { type: "email", id, subject: a, body: b };
    }
    case Command.GROUP: {
      const fields = fieldsTrimmed(body);
      const action = fields.at(0) ?? "";
      if (action === "b" && fields.length === 1) return { type: "group", id, action: "begin" };
      if (action === "t" && fields.length === 2) return { type: "group", id, action: "begin", time: parseWhole(fields[1], "GROUP timestamp") };
      if (action === "e" && fields.length === 1) return { type: "group", id, action: "end" };
      throw illegalBody(`GROUP ${quote(action)} with ${fields.length - 1} more fields is not known; accepted: b, t <ms>, e`);
    }
    case Command.REDIRECT: {
      const fields = fieldsFitting(body, [1, 2], "REDIRECT");
      const host = fields.at(0) ?? "";
      const port = fields.at(1);
      if (host === "") throw illegalBody("REDIRECT names no host");
      return { type: "redirect", id, host, port: port === undefined ? REDIRECT_DEFAULT_PORT : redirectPort(port) };
    }
    case Command.DEBUG_PRINT:
      return { type: "debug-print", id, text: textOf(body) };
    default:
      throw illegalCommand(`command ${describeCommand(command)} has no message form`);
  }
}

function redirectPort(text: string): number {
  const port = parseWhole(text, "REDIRECT port", 0xffff);
  if (port === 0) throw illegalBody("REDIRECT port 0 is not a port");
  return port;
}

/** The message -> command, id and body fields (or status); `to` decides the BRIDGE form. */
export function messageFrame(message: BlynkMessage, to: Side): FrameToSend {
  const given = message as { type?: unknown };
  const { id } = message;
  const body = (command: number, fields: readonly unknown[], what: string): FrameToSend => ({ command, id, body: joinFields(fields, what) });
  switch (message.type) {
    case "response":
      return { command: Command.RESPONSE, id, status: message.status };
    case "login": {
      const token: unknown = message.token;
      if (typeof token !== "string" || token === "" || token.includes("\0")) throw invalid("login token must be non-empty text without NUL");
      return { command: message.legacy ? Command.LOGIN : Command.HW_LOGIN, id, body: token };
    }
    case "ping":
      return { command: Command.PING, id };
    case "hardware":
      return body(Command.HARDWARE, hardwareFields(message), "HARDWARE");
    case "bridge":
      if (to !== "server") throw invalid('a "bridge" message (with a channel) goes from a device to its server; send the target device a "bridged" one');
      return body(Command.BRIDGE, bridgeFields(message), "BRIDGE");
    case "bridged":
      if (to !== "device") throw invalid('a "bridged" message goes from the server to the bridge\'s target device; a device sends "bridge"');
      return body(Command.BRIDGE, hardwareFields(message, "BRIDGE"), "BRIDGE");
    case "sync":
      return body(Command.HARDWARE_SYNC, syncFields(message), "HARDWARE_SYNC");
    case "internal":
      return body(Command.INTERNAL, internalFields(message), "INTERNAL");
    case "property":
      assertPropertyName(message.property);
      return body(Command.PROPERTY, [pinText(message.pin, "PROPERTY"), message.property, ...nonEmptyValues(message.values, "PROPERTY")], "PROPERTY");
    case "event": {
      assertEventCode(message.code);
      const description: unknown = message.description;
      return body(Command.EVENT_LOG, description === undefined ? [message.code] : [message.code, textField(description, "EVENT_LOG description", { empty: true })], "EVENT_LOG");
    }
    case "event-clear":
      assertEventCode(message.code);
      return body(Command.EVENT_CLEAR, message.all ? [message.code, "all"] : [message.code], "EVENT_CLEAR");
    case "notify":
    case "tweet":
    case "sms": {
      const command = { notify: Command.NOTIFY, tweet: Command.TWEET, sms: Command.SMS }[message.type];
      return { command, id, body: textField(message.text, `${message.type} text`) };
    }
    case "email": {
      const to: unknown = message.to;
      const fields = [textField(message.subject, "EMAIL subject", { empty: true }), textField(message.body, "EMAIL body", { empty: true })];
      return body(Command.EMAIL, to === undefined ? fields : [textField(to, "EMAIL to"), ...fields], "EMAIL");
    }
    case "group":
      if (message.action === "end") return body(Command.GROUP, ["e"], "GROUP");
      return body(Command.GROUP, message.time === undefined ? ["b"] : ["t", wholeText(message.time, "GROUP timestamp (ms)")], "GROUP");
    case "redirect": {
      const host = textField(message.host, "REDIRECT host");
      if (host.length > MAX_REDIRECT_HOST) throw invalid(`REDIRECT host ${quote(host)} is ${host.length} characters; a device keeps at most ${MAX_REDIRECT_HOST}`);
      const port: unknown = message.port;
      if (port === 0) throw invalid("REDIRECT port 0 is not a port");
      return body(Command.REDIRECT, [host, wholeText(port, "REDIRECT port", 0xffff)], "REDIRECT");
    }
    case "debug-print":
      return { command: Command.DEBUG_PRINT, id, body: textField(message.text, "DEBUG_PRINT text", { empty: true }) };
    default:
      throw invalid(`message type ${describeValue(given.type)} is not known; accepted: ${TYPES}`);
  }
}

function nonEmptyValues(values: unknown, what: string): string[] {
  if (!Array.isArray(values) || values.length === 0) throw invalid(`${what} values must be a non-empty array of text fields, got ${describeValue(values)}; see valuesFrom()`);
  return (values as unknown[]).map((v, i) => textField(v, `${what} value ${i}`, { empty: true }));
}

/** The message -> the bytes to send `options.to`, within its limit (`maxBody`, default 256). */
export function encodeMessage(message: BlynkMessage, options: SendOptions): Buffer {
  if (typeof message !== "object" || (message as unknown) === null) throw invalid(`message must be an object with a "type", got ${describeValue(message)}`);
  const given: unknown = options;
  if (typeof given !== "object" || given === null) throw invalid(`send options must be an object such as { to: "device" }, got ${describeValue(given)}`);
  return encodeFrame(messageFrame(message, options.to), options);
}
