/**
 * Blynk's binary hardware protocol (docs/PROTOCOLS.md 3.2, 3.3): command codes, status codes and
 * which side may send which command. Names follow the C++ library's `BlynkProtocolDefs.h`.
 */

/** Command codes of the hardware side of the protocol (the mobile-app commands are not here). */
export const Command = {
  RESPONSE: 0,
  LOGIN: 2,
  PING: 6,
  TWEET: 12,
  EMAIL: 13,
  NOTIFY: 14,
  BRIDGE: 15,
  HARDWARE_SYNC: 16,
  INTERNAL: 17,
  SMS: 18,
  PROPERTY: 19,
  HARDWARE: 20,
  GROUP: 21,
  HW_LOGIN: 29,
  REDIRECT: 41,
  DEBUG_PRINT: 55,
  EVENT_LOG: 64,
  EVENT_CLEAR: 65,
} as const;
export type CommandName = keyof typeof Command;
export type CommandCode = (typeof Command)[CommandName];

/** Status codes carried in a RESPONSE's length field. */
export const Status = {
  SUCCESS: 200,
  QUOTA_LIMIT: 1,
  ILLEGAL_COMMAND: 2,
  NOT_REGISTERED: 3,
  ALREADY_REGISTERED: 4,
  NOT_AUTHENTICATED: 5,
  NOT_ALLOWED: 6,
  DEVICE_NOT_IN_NETWORK: 7,
  NO_ACTIVE_DASHBOARD: 8,
  INVALID_TOKEN: 9,
  ILLEGAL_COMMAND_BODY: 11,
  GET_GRAPH_DATA_EXCEPTION: 12,
  NTF_INVALID_BODY: 13,
  NTF_NOT_AUTHORIZED: 14,
  NTF_EXCEPTION: 15,
  TIMEOUT: 16,
  NO_DATA: 17,
  DEVICE_WENT_OFFLINE: 18,
  SERVER_EXCEPTION: 19,
  NOT_SUPPORTED_VERSION: 20,
  ENERGY_LIMIT: 21,
  OPERATION_ACCEPT: 23,
  OPERATION_DECLINE: 24,
} as const;
export type StatusName = keyof typeof Status;
export type StatusCode = (typeof Status)[StatusName];

const COMMAND_NAMES = new Map<number, CommandName>(Object.entries(Command).map(([name, code]) => [code, name as CommandName]));
const STATUS_NAMES = new Map<number, StatusName>(Object.entries(Status).map(([name, code]) => [code, name as StatusName]));

/** "HARDWARE" for 20; undefined for a code that is not a hardware-side command. */
export function commandName(code: number): CommandName | undefined {
  return COMMAND_NAMES.get(code);
}

/** "INVALID_TOKEN" for 9; undefined for a code that is not in the table. */
export function statusName(code: number): StatusName | undefined {
  return STATUS_NAMES.get(code);
}

/** A command for messages: "20 (HARDWARE)", "99 (unknown)". */
export function describeCommand(code: number): string {
  return `${code} (${commandName(code) ?? "unknown"})`;
}

export type Side = "device" | "server";

/**
 * What a device may send a server. GROUP and EVENT_CLEAR come from library 1.x, LOGIN and the
 * TWEET/EMAIL/NOTIFY/SMS commands from 0.x: a server accepts every library version's.
 */
export const DEVICE_SENDS: ReadonlySet<number> = new Set<number>([
  Command.RESPONSE, Command.LOGIN, Command.HW_LOGIN, Command.PING,
  Command.TWEET, Command.EMAIL, Command.NOTIFY, Command.SMS,
  Command.BRIDGE, Command.HARDWARE_SYNC, Command.INTERNAL, Command.PROPERTY, Command.HARDWARE,
  Command.GROUP, Command.EVENT_LOG, Command.EVENT_CLEAR,
]);

/**
 * What a server may send a device: the device's dispatcher drops the connection on anything else
 * (docs/PROTOCOLS.md 3.2). LOGIN/HW_LOGIN are left out although the device answers them: they only
 * mean something to a directly connected app, and a server must not send them.
 */
export const SERVER_SENDS: ReadonlySet<number> = new Set<number>([
  Command.RESPONSE, Command.PING, Command.REDIRECT, Command.HARDWARE, Command.BRIDGE, Command.INTERNAL, Command.DEBUG_PRINT,
]);

/** The commands `side` may send. */
export function sentBy(side: Side): ReadonlySet<number> {
  return side === "device" ? DEVICE_SENDS : SERVER_SENDS;
}
