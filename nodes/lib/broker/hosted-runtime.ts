/**
 * What every platform's per-engine hosted device has in common: its id and name, its state
 * (`DeviceStore` from the engine's provider), its listeners (the handles following it), which
 * connection is the device now, and its report channel with the flood guard. A platform's
 * runtime extends this and adds what its protocol needs (topics, answers, HTTP polls) and
 * `send`, the way flows reach the device (docs/ARCHITECTURE.md 3.5).
 */
import { ReportThrottle } from "../transport/report-throttle.js";
import type { DeviceStore } from "./device-store.js";
import { DeviceListeners, type OnlineState } from "./device-listeners.js";
import type { HostedRuntime } from "./hosted-device.js";
import type { ClientInfo } from "./types.js";

export interface RuntimeIdentity {
  /** The config node's id: safe in topics and store keys. */
  id: string;
  name: string;
  /** The platform in messages ("Blynk", "ThingsBoard", "ThingSpeak"). */
  platform: string;
  /** "device" or "channel", in messages. */
  noun?: string;
}

export abstract class HostedRuntimeBase<Up, Down, Ack, Info> implements HostedRuntime<Up, Down, Ack, Info> {
  readonly id: string;
  readonly name: string;
  readonly store: DeviceStore;
  readonly listeners: DeviceListeners<Up, Info>;
  /** The connection that is the device now (the newest one); undefined while offline. */
  current: ClientInfo | undefined;
  readonly #prefix: string;
  readonly #report: (err: Error) => void;
  /** Problems the device causes over and over are reported once, then summarised. */
  readonly #throttle = new ReportThrottle({ summary: (text) => { this.report(text); } });

  constructor(identity: RuntimeIdentity, store: DeviceStore, report: (err: Error) => void) {
    this.id = identity.id;
    this.name = identity.name;
    this.store = store;
    this.#prefix = `hosted ${identity.platform} ${identity.noun ?? "device"} "${identity.name}": `;
    this.#report = report;
    this.listeners = new DeviceListeners<Up, Info>((err) => {
      this.report(`a listener failed: ${err instanceof Error ? err.message : String(err)}`, "listener");
    });
  }

  get online(): boolean {
    return this.current !== undefined;
  }

  onlineState(): OnlineState {
    const info = this.current;
    if (info === undefined) return { online: false };
    return { online: true, clientId: info.clientId, ...(info.remoteAddress === undefined ? {} : { remoteAddress: info.remoteAddress }), protocolVersion: info.protocolVersion };
  }

  info(): Info | undefined {
    return undefined;
  }

  abstract send(message: Down): Promise<Ack>;

  /**
   * A warning about this device, to whoever hosts it; never throws. With a `kind` (a fixed word
   * for something the device can repeat at will), only the first of a burst goes out, then a
   * summary per minute.
   */
  report(message: string, kind?: string): void {
    if (kind !== undefined && !this.#throttle.admit(kind, message)) return;
    try {
      this.#report(new Error(this.#prefix + message));
    } catch {
      // The host's callback failing must not break the broker.
    }
  }

  /** Whether a problem of `kind` is to be reported now (false: counted for the next summary). */
  admits(kind: string, message: string): boolean {
    return this.#throttle.admit(kind, message);
  }

  /** Hosting ended: summaries still owed go out now. */
  closeReports(): void {
    this.#throttle.close();
  }
}
