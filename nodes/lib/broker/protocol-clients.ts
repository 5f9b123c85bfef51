/**
 * The logged-in connections of extra protocol listeners (docs/ARCHITECTURE.md 3.7): connections
 * a plugin serves itself (Blynk's binary protocol), not aedes. The engine lists them with its
 * MQTT clients, so counting, events and `disconnectClients` (a device replaced, unhosted, its
 * plugin taken out) treat both alike. Platform-blind.
 */
import type { ClientInfo } from "./types.js";

export class ProtocolClients {
  readonly #clients = new Map<ClientInfo, () => void>();

  get size(): number {
    return this.#clients.size;
  }

  add(info: ClientInfo, close: () => void): void {
    this.#clients.set(info, close);
  }

  /** Whether `info` was listed (it is not any more). */
  delete(info: ClientInfo): boolean {
    return this.#clients.delete(info);
  }

  infos(): ClientInfo[] {
    return [...this.#clients.keys()];
  }

  /**
   * Closes the connections `which` picks; returns how many. Each close is guarded (the
   * connection may be gone already) and unlists the connection first, so its own "gone" is quiet.
   */
  disconnect(which: (info: ClientInfo) => boolean, onGone: (info: ClientInfo) => void): number {
    let count = 0;
    for (const [info, close] of [...this.#clients]) {
      if (!which(info)) continue;
      count++;
      try {
        close();
      } catch {
        // Already gone.
      }
      if (this.#clients.delete(info)) onGone(info);
    }
    return count;
  }
}
