/**
 * Reading Node-RED's core `tls-config` node (05-tls.js) without importing Node-RED: every node
 * that takes a `tls` property turns it into Node TLS options the same way.
 */
/** What a tls-config node sets (05-tls.js reads certificate, key and CA into Buffers). */
export interface TlsOptions {
  ca?: string | Buffer | (string | Buffer)[];
  cert?: string | Buffer;
  key?: string | Buffer;
  passphrase?: string;
  rejectUnauthorized?: boolean;
  servername?: string;
  ALPNProtocols?: string[];
}

interface TlsConfigNodeLike {
  addTLSOptions(options: TlsOptions): TlsOptions;
}

/**
 * The TLS options a tls-config node holds (certificate, key, CA, passphrase, verification, SNI),
 * or undefined when `node` is not a tls-config node (missing or of another type).
 */
export function tlsOptionsOf(node: unknown): TlsOptions | undefined {
  if (typeof node !== "object" || node === null) return undefined;
  const add = (node as Partial<TlsConfigNodeLike>).addTLSOptions;
  if (typeof add !== "function") return undefined;
  return add.call(node, {});
}
