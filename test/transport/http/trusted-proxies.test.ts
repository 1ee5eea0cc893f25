import { describe, expect, it } from 'vitest';
import { TrustedProxies } from '../../../src/transport/http/trusted-proxies.js';

describe('trusted proxies, decided once per connection', () => {
  const proxies = new TrustedProxies(['192.0.2.0/24', '2001:db8::/32']);

  it('trusts a connection from a listed proxy and refuses one from anywhere else, request after request', () => {
    const proxy = { remoteAddress: '::ffff:192.0.2.7' };
    const attacker = { remoteAddress: '198.51.100.9' };
    for (let i = 0; i < 3; i++) {
      expect(proxies.isTrustedSocket(proxy)).toBe(true);
      expect(proxies.isTrustedSocket(attacker)).toBe(false);
    }
    expect(proxies.isTrustedSocket({ remoteAddress: '2001:db8::1' })).toBe(true);
    expect(proxies.isTrustedSocket({ remoteAddress: '2001:db9::1' })).toBe(false);
  });

  it('does not trust, nor remember, a socket that has lost its address (destroyed)', () => {
    const socket: { remoteAddress?: string } = {};
    expect(proxies.isTrustedSocket(socket)).toBe(false);
    socket.remoteAddress = '192.0.2.1';
    expect(proxies.isTrustedSocket(socket)).toBe(true);
  });

  it('answers per instance: a connection remembered by one list is decided afresh by another', () => {
    const socket = { remoteAddress: '192.0.2.1' };
    expect(proxies.isTrustedSocket(socket)).toBe(true);
    expect(new TrustedProxies(['10.0.0.0/8']).isTrustedSocket(socket)).toBe(false);
  });
});
