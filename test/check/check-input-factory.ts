import type { CheckInput } from '../../src/check/check-input.js';

/** A CheckInput as an adapter would build it, with overrides. */
export function checkInput(overrides: Partial<CheckInput> = {}): CheckInput {
  return {
    transport: 'json',
    method: 'GET',
    path: '/orders/42',
    host: 'api.example.com',
    scheme: 'https',
    protocol: 'HTTP/1.1',
    headers: {},
    requestId: 'req-1',
    body: '',
    source: { address: '10.0.0.1', port: 40000 },
    destination: { address: '10.0.0.2', port: 8080 },
    contextExtensions: {},
    ...overrides,
  };
}

export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}
