import { BlockList, isIP } from 'node:net';

/**
 * Which peers may tell us about the original request through X-Forwarded-* and
 * X-Original-* headers. Anyone else could claim any path or method, so their forwarded
 * headers are never believed.
 */
export class TrustedProxies {
  private readonly list = new BlockList();
  /**
   * The answer per connection: a socket's peer address never changes while it is open, and
   * parsing and checking it per request was a measurable share of the HTTP path (keep-alive
   * connections carry thousands of checks).
   */
  private readonly bySocket = new WeakMap<object, boolean>();

  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      const [address = '', prefix] = entry.split('/');
      const family = isIP(address);
      if (family === 0) throw new Error(`trustedProxies: "${entry}" is not an IP address or CIDR`);
      const type = family === 4 ? 'ipv4' : 'ipv6';
      if (prefix === undefined) {
        this.list.addAddress(address, type);
      } else {
        const bits = Number(prefix);
        if (!Number.isInteger(bits) || bits < 0 || bits > (family === 4 ? 32 : 128)) {
          throw new Error(`trustedProxies: "${entry}" has an invalid prefix length`);
        }
        this.list.addSubnet(address, bits, type);
      }
    }
  }

  /** isTrusted(socket.remoteAddress), decided once per socket. */
  isTrustedSocket(socket: { readonly remoteAddress?: string | undefined }): boolean {
    const known = this.bySocket.get(socket);
    if (known !== undefined) return known;
    const address = socket.remoteAddress;
    const trusted = this.isTrusted(address);
    // A destroyed socket has no address: not trusted, and not remembered either.
    if (address !== undefined) this.bySocket.set(socket, trusted);
    return trusted;
  }

  isTrusted(address: string | undefined): boolean {
    if (address === undefined || address === '') return false;
    // A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
    if (mapped !== undefined) return this.list.check(mapped, 'ipv4');
    const family = isIP(address);
    if (family === 0) return false;
    return this.list.check(address, family === 4 ? 'ipv4' : 'ipv6');
  }
}
