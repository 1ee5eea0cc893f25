import { gzipSync } from 'node:zlib';
import { Client, compressionAlgorithms, credentials, status as GrpcStatus } from '@grpc/grpc-js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { deny, type AllowDecision } from '../../../src/decision/decision.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { startGrpcServer, type GrpcServerHandle } from '../../../src/transport/grpc/grpc-server.js';
import { loadProtos } from '../../../src/transport/grpc/load-protos.js';
import type { CheckRequestMessage } from '../../../src/transport/grpc/wire-types.js';
import { ENVOY_GET_REQUEST } from './envoy-fixtures.js';
import { GRPC_SERVERS, RecordingAuthorizer, connect, rawUnary, unary } from './grpc-test-client.js';
import { rawH2Call } from './raw-h2-call.js';

// The gRPC-over-HTTP/2 protocol (grpc/grpc PROTOCOL-HTTP2.md) as a client sees it, on both
// servers `grpc.server` selects: the faults a client library never makes are sent with a raw
// node:http2 client, the rest with grpc-js. Whatever the fault, the authorizer is not asked
// and nothing is allowed.

const Check = loadProtos().authorization.Check;
const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';

const ALLOW: AllowDecision = {
  allowed: true,
  code: 'GH_OK',
  api: { id: 'orders-get', service: 'orders' },
  upstreamHeaders: [['x-gatehouse-subject', 'alice']],
  upstreamHeadersToRemove: [],
  responseHeaders: [],
  revision: 'rev-1',
};

function framed(message: Buffer, compressed = 0): Buffer {
  const prefix = Buffer.alloc(5);
  prefix[0] = compressed;
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

const checkBytes = (request: CheckRequestMessage = ENVOY_GET_REQUEST): Buffer =>
  Check.requestSerialize(request);

const GRPC_HEADERS = { ':path': CHECK_PATH, 'content-type': 'application/grpc' } as const;

describe.each(GRPC_SERVERS)('gRPC protocol faults on the %s server', (kind) => {
  const authorizer = new RecordingAuthorizer(() => ALLOW);
  let server: GrpcServerHandle;
  let client: Client;

  beforeAll(async () => {
    server = await startGrpcServer({
      host: '127.0.0.1',
      port: 0,
      server: kind,
      authorizer,
      logger: silentLogger(),
      maxReceiveMessageBytes: 1024 * 1024,
    });
    client = connect(server.port);
  });

  afterAll(async () => {
    client.close();
    await server.close();
  });

  beforeEach(() => {
    authorizer.inputs.length = 0;
    authorizer.answerWith(() => ALLOW);
  });

  it('a request that is not gRPC (content-type application/json): HTTP 415, as grpc-js answers', async () => {
    const answer = await rawH2Call(
      server.port,
      { ...GRPC_HEADERS, 'content-type': 'application/json' },
      Buffer.from('{}'),
    );
    expect(answer.status).toBe(415);
    expect(authorizer.inputs).toHaveLength(0);
  });

  it('an unknown method: UNIMPLEMENTED, the method named in grpc-message', async () => {
    const { error } = await unary(
      client,
      { ...Check, path: '/envoy.service.auth.v2.Authorization/Check' },
      ENVOY_GET_REQUEST,
    );
    expect(error?.code).toBe(GrpcStatus.UNIMPLEMENTED);
    expect(error?.details).toContain('/envoy.service.auth.v2.Authorization/Check');
  });

  it('a body that ends inside its message (truncated CheckRequest): UNIMPLEMENTED, never checked', async () => {
    const whole = framed(checkBytes());
    const answer = await rawH2Call(server.port, GRPC_HEADERS, whole.subarray(0, whole.length - 3));
    expect(answer.status).toBe(200);
    expect(answer.trailers['grpc-status']).toBe(String(GrpcStatus.UNIMPLEMENTED));
    expect(answer.body).toHaveLength(0);
    expect(authorizer.inputs).toHaveLength(0);
  });

  it('a message compressed with an encoding the server does not decode: UNIMPLEMENTED, never checked', async () => {
    const answer = await rawH2Call(
      server.port,
      { ...GRPC_HEADERS, 'grpc-encoding': 'snappy' },
      framed(checkBytes(), 1),
    );
    expect(answer.trailers['grpc-status']).toBe(String(GrpcStatus.UNIMPLEMENTED));
    expect(authorizer.inputs).toHaveLength(0);
  });

  it('a grpc-timeout that does not parse: INTERNAL, never checked', async () => {
    const answer = await rawH2Call(
      server.port,
      { ...GRPC_HEADERS, 'grpc-timeout': 'soon' },
      framed(checkBytes()),
    );
    expect(answer.trailers['grpc-status']).toBe(String(GrpcStatus.INTERNAL));
    expect(authorizer.inputs).toHaveLength(0);
  });

  it('a gzip-compressed CheckRequest is decompressed and checked like any other', async () => {
    authorizer.answerWith(() => deny('GH_ERR_POLICY_DENIED', 'policy', { realm: 'r' }));
    const answer = await rawH2Call(
      server.port,
      { ...GRPC_HEADERS, 'grpc-encoding': 'gzip' },
      framed(gzipSync(checkBytes()), 1),
    );
    expect(answer.trailers['grpc-status']).toBe('0');
    const response = Check.responseDeserialize(answer.body.subarray(5));
    expect(response.status.code).toBe(GrpcStatus.PERMISSION_DENIED);
    expect(response.status.message).toBe('GH_ERR_POLICY_DENIED');
    expect(authorizer.inputs[0]?.path).toBe(ENVOY_GET_REQUEST.attributes.request.http.path);
  });

  it('a grpc-js client compressing with gzip gets its allow', async () => {
    const gzipClient = new Client(`127.0.0.1:${server.port}`, credentials.createInsecure(), {
      'grpc.default_compression_algorithm': compressionAlgorithms.gzip,
    });
    try {
      const { response, error } = await unary(gzipClient, Check, ENVOY_GET_REQUEST);
      expect(error).toBeUndefined();
      expect(response?.status.code).toBe(GrpcStatus.OK);
      expect(response?.ok_response?.headers[0]?.header.key).toBe('x-gatehouse-subject');
    } finally {
      gzipClient.close();
    }
  });

  it('a CheckRequest past the transport bound (4x maxReceiveMessageBytes): RESOURCE_EXHAUSTED from its prefix, never checked', async () => {
    // The prefix alone claims 5 MiB: the server refuses before the body is read.
    const answer = await rawH2Call(
      server.port,
      GRPC_HEADERS,
      Buffer.concat([Buffer.from([0, 0, 0x50, 0, 0]), Buffer.alloc(1024)]),
    );
    expect(answer.trailers['grpc-status']).toBe(String(GrpcStatus.RESOURCE_EXHAUSTED));
    expect(authorizer.inputs).toHaveLength(0);
  });

  it('a CheckRequest between the limit and the transport bound, in many DATA frames: the explicit GH_ERR_INTERNAL deny', async () => {
    const big = {
      attributes: {
        request: { http: { method: 'POST', path: '/', body: 'x'.repeat(2 * 1024 * 1024) } },
      },
    };
    const { response, error } = await unary(client, Check, big);
    expect(error).toBeUndefined();
    expect(response?.status.message).toBe('GH_ERR_INTERNAL');
    expect(response?.denied_response?.status.code).toBe(403);
    expect(authorizer.inputs).toHaveLength(0);
  });

  it('a 900 KiB request body in many DATA frames is reassembled and reaches the authorizer whole', async () => {
    const body = 'b'.repeat(900 * 1024);
    const { response } = await unary(client, Check, {
      attributes: { request: { http: { method: 'POST', path: '/upload', host: 'h', body } } },
    });
    expect(response?.status.code).toBe(GrpcStatus.OK);
    expect(authorizer.inputs[0]?.body).toBe(body);
  });

  it('a grpc-timeout that passes while the authorizer is still deciding: DEADLINE_EXCEEDED from the server', async () => {
    authorizer.answerWith(
      () =>
        new Promise((resolve) => {
          setTimeout(() => {
            resolve(ALLOW);
          }, 1500);
        }),
    );
    const answer = await rawH2Call(
      server.port,
      { ...GRPC_HEADERS, 'grpc-timeout': '100m' },
      framed(checkBytes()),
    );
    expect(answer.trailers['grpc-status']).toBe(String(GrpcStatus.DEADLINE_EXCEEDED));
    // The late allow is dropped: no message was sent.
    expect(answer.body).toHaveLength(0);
  });

  it('a client that cancels a Check in flight: the call is dropped and the connection keeps answering', async () => {
    let release: () => void = () => undefined;
    authorizer.answerWith(
      () =>
        new Promise((resolve) => {
          release = () => {
            resolve(ALLOW);
          };
        }),
    );
    const call = client.makeUnaryRequest(
      Check.path,
      Check.requestSerialize,
      Check.responseDeserialize,
      ENVOY_GET_REQUEST,
      () => undefined,
    );
    await expect.poll(() => authorizer.inputs.length).toBe(1);
    call.cancel();
    await new Promise((resolve) => setTimeout(resolve, 50));
    release();
    authorizer.answerWith(() => ALLOW);
    const { response, error } = await unary(client, Check, ENVOY_GET_REQUEST);
    expect(error).toBeUndefined();
    expect(response?.status.code).toBe(GrpcStatus.OK);
  });

  it('200 Checks at once on one connection: each answered with its own decision', async () => {
    authorizer.answerWith((input) =>
      input.path.endsWith('/deny') ? deny('GH_ERR_POLICY_DENIED', 'policy', { realm: 'r' }) : ALLOW,
    );
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        unary(client, Check, {
          attributes: {
            request: {
              http: { method: 'GET', host: 'h', path: i % 3 === 0 ? `/${i}/deny` : `/${i}` },
            },
          },
        }),
      ),
    );
    results.forEach(({ response, error }, i) => {
      expect(error).toBeUndefined();
      expect(response?.status.code).toBe(
        i % 3 === 0 ? GrpcStatus.PERMISSION_DENIED : GrpcStatus.OK,
      );
    });
  });

  it('bytes that are not a CheckRequest: the explicit GH_ERR_INTERNAL deny, not a gRPC error', async () => {
    const { response, error } = await rawUnary(
      client,
      Check,
      () => Buffer.from([0x0a, 0xff, 0xff, 0x03]),
      null,
    );
    expect(error).toBeUndefined();
    expect(response?.status.message).toBe('GH_ERR_INTERNAL');
    expect(response?.denied_response?.status.code).toBe(403);
  });
});

describe('both gRPC servers answer the same bytes (differential)', () => {
  const authorizer = new RecordingAuthorizer(() => ALLOW);
  const servers: GrpcServerHandle[] = [];

  beforeAll(async () => {
    for (const kind of GRPC_SERVERS) {
      servers.push(
        await startGrpcServer({
          host: '127.0.0.1',
          port: 0,
          server: kind,
          authorizer,
          logger: silentLogger(),
        }),
      );
    }
  });

  afterAll(async () => {
    await Promise.all(servers.map((server) => server.close()));
  });

  it.each([
    ['an allow', () => ALLOW, framed(checkBytes())],
    [
      'a 401 deny with its challenge',
      () => deny('GH_ERR_TOKEN_EXPIRED', 'exp', { realm: 'shop' }),
      framed(checkBytes()),
    ],
    [
      'the deny of bytes that are not a CheckRequest',
      () => ALLOW,
      framed(Buffer.from([0x0a, 0xff, 0xff, 0x03])),
    ],
  ] as const)('%s: the same CheckResponse bytes and grpc-status', async (_name, answer, body) => {
    authorizer.answerWith(answer);
    const answers = await Promise.all(
      servers.map((server) => rawH2Call(server.port, GRPC_HEADERS, body)),
    );
    const [grpcJs, gatehouse] = answers;
    expect(gatehouse?.status).toBe(200);
    expect(gatehouse?.body.toString('hex')).toBe(grpcJs?.body.toString('hex'));
    expect(gatehouse?.trailers['grpc-status']).toBe(grpcJs?.trailers['grpc-status']);
    expect(gatehouse?.headers['content-type']).toMatch(/^application\/grpc/);
  });
});
