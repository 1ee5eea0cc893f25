/**
 * CheckRequest wire bytes -> CheckInput: the direct decoder (decodeCheckRequest) against the
 * path it replaced (proto-loader decode + toObject + the old mapper, kept in test/ as the
 * oracle), in alternating rounds in one process so that a change in the machine's load hits
 * both alike. CPU time per decode (process.cpuUsage), median over rounds, and the median of
 * the per-round ratios.
 *
 *   node --import tsx bench/codec-ab.ts [rounds] [decodes per round]
 */
import { decodeCheckRequest } from '../src/transport/grpc/check-request-decoder.js';
import { loadProtos } from '../src/transport/grpc/load-protos.js';
import { protoLoaderCheckInput } from '../test/transport/grpc/proto-loader-check-input.js';
import { ENVOY_GET_REQUEST } from '../test/transport/grpc/envoy-fixtures.js';

const rounds = Number(process.argv[2] ?? 15);
const perRound = Number(process.argv[3] ?? 20_000);
const check = loadProtos().authorization.Check;
const token = `eyJhbGciOiJSUzI1NiJ9.${'x'.repeat(400)}.sig`;

/** The bench's CheckRequest (bench/transport-ab-sliced.sh), and Envoy's mTLS GET fixture. */
const requests = {
  'bench request (8 headers, 400-byte token)': check.requestSerialize({
    attributes: {
      source: { address: { socket_address: { address: '10.0.0.1', port_value: 40000 } } },
      destination: { address: { socket_address: { address: '10.0.0.2', port_value: 8080 } } },
      request: {
        http: {
          id: 'ab-1',
          method: 'GET',
          path: '/orders/42',
          host: 'api.example.com',
          scheme: 'https',
          protocol: 'HTTP/1.1',
          headers: {
            ':authority': 'api.example.com',
            ':method': 'GET',
            ':path': '/orders/42',
            ':scheme': 'https',
            'user-agent': 'bench',
            accept: 'application/json',
            'x-request-id': 'ab-1',
            authorization: `Bearer ${token}`,
          },
        },
      },
    },
  }),
  'Envoy mTLS GET fixture (certificates, context_extensions, time)':
    check.requestSerialize(ENVOY_GET_REQUEST),
};

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

function cpuNsPerDecode(decode: () => unknown): number {
  const before = process.cpuUsage();
  for (let i = 0; i < perRound; i++) decode();
  const used = process.cpuUsage(before);
  return ((used.user + used.system) * 1000) / perRound;
}

console.log(
  `| request | old ns/decode | direct ns/decode | direct / old (median of ${rounds} rounds) |`,
);
console.log('|---|---:|---:|---:|');
for (const [name, bytes] of Object.entries(requests)) {
  const old: number[] = [];
  const direct: number[] = [];
  for (let round = 0; round < rounds + 2; round++) {
    const o = cpuNsPerDecode(() => protoLoaderCheckInput(bytes));
    const d = cpuNsPerDecode(() => decodeCheckRequest(bytes));
    // The first two rounds warm up (JIT) and are dropped.
    if (round < 2) continue;
    old.push(o);
    direct.push(d);
  }
  const ratio = median(old.map((o, i) => (direct[i] ?? Number.NaN) / o));
  console.log(
    `| ${name} (${bytes.length} bytes) | ${median(old).toFixed(0)} | ${median(direct).toFixed(0)} | ${ratio.toFixed(2)} |`,
  );
}
