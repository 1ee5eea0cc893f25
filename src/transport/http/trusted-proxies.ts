import { BlockList, isIP } from 'node:net';

/**
 * Which peers may tell us about the original request through X-Forwarded-* and
 * X-Original-* headers. Anyone else could claim any path or method, so their forwarded
 * headers are never believed.
 */
export class TrustedProxies {
  private readonly list = new BlockList();

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
