/**
 * The three config node types as the flow nodes see them (see flow-node.ts): which catalog holds
 * their status texts and problems, the flow nodes' keys when none is selected or it is unusable,
 * and each platform's way to find its handle and use its link.
 */
import { deviceHandleOf as blynkHandleOf, useLink as useBlynkLink, type BlynkDeviceHandle } from "../blynk/link-user.js";
import type { BlynkIncoming, BlynkLink } from "../blynk/link.js";
import { deviceHandleOf as tbHandleOf, useLink as useTbLink, type TbDeviceHandle } from "../thingsboard/link-user.js";
import type { TbIncoming, TbLink } from "../thingsboard/link.js";
import { channelHandleOf, useLink as useThingSpeakLink, type ThingSpeakChannelHandle } from "../thingspeak/link-user.js";
import type { ThingSpeakIncoming, ThingSpeakLink } from "../thingspeak/link.js";
import type { LinkOwner } from "../transport/link-users.js";
import type { ConfigKind } from "./flow-node.js";

/**
 * `noun` is the flow nodes' setting naming the config node and names their keys: `no-<noun>`
 * (none selected), `<noun>-invalid` (unusable).
 */
function configKind<H extends LinkOwner<L>, L, I>(type: string, noun: string, handleOf: ConfigKind<H, L, I>["handleOf"], useLink: ConfigKind<H, L, I>["useLink"]): ConfigKind<H, L, I> {
  return { type, setting: noun, missing: `no-${noun}`, invalid: `${noun}-invalid`, handleOf, useLink };
}

export const blynkDevice = configKind<BlynkDeviceHandle, BlynkLink, BlynkIncoming>("blynk-device", "device", blynkHandleOf, useBlynkLink);
export const thingsBoardDevice = configKind<TbDeviceHandle, TbLink, TbIncoming>("thingsboard-device", "device", tbHandleOf, useTbLink);
export const thingSpeakChannel = configKind<ThingSpeakChannelHandle, ThingSpeakLink, ThingSpeakIncoming>("thingspeak-channel", "channel", channelHandleOf, useThingSpeakLink);
