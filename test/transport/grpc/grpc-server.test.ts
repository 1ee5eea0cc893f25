import { status as GrpcStatus, type Client } from '@grpc/grpc-js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { deny, type AllowDecision, type Decision } from '../../../src/decision/decision.js';
import { createLogger } from '../../../src/observability/logger.js';
import { LOG } from '../../../src/observability/log-messages.js';
import { startGrpcServer, type GrpcServerHandle } from '../../../src/transport/grpc/grpc-server.js';
import { loadProtos } from '../../../src/transport/grpc/load-protos.js';
import {
  HeaderAppendAction,
  ServingStatus,
  type CheckRequestMessage,
} from '../../../src/transport/grpc/wire-types.js';
import {
  ENVOY_GET_REQUEST,
  ENVOY_GET_REQUEST_FIELDS,
  ENVOY_RAW_HEADERS_POST,
} from './envoy-fixtures.js';
import {
  LogSink,
  GRPC_SERVERS,
  RecordingAuthorizer,
  connect,
  rawUnary,
  serverStream,
  unary,
} from './grpc-test-client.js';

// The client speaks through the same hand-written protos the server loads; proto-contract
// .test.ts pins those to Envoy's field numbers.
const protos = loadProtos();
const Check = protos.authorization.Check;
const Health = protos.health;

const ALLOW: AllowDecision = {
  allowed: true,
  code: 'GH_OK',
  api: { id: 'orders-get', service: 'orders' },
  upstreamHeaders: [['x-gatehouse-subject', 'alice']],
  upstreamHeadersToRemove: ['authorization'],
  responseHeaders: [['x-ratelimit-remaining', '99']],
  revision: 'rev-1',
};

// Every test runs against both servers `grpc.server` selects: they must answer alike.
describe.each(GRPC_SERVERS)('on the %s gRPC server', (kind) => {
  const authorizer = new RecordingAuthorizer(() => ALLOW);
  const logs = new LogSink();
  let server: GrpcServerHandle;
  let client: Client;

  beforeAll(async () => {
    server = await startGrpcServer({
      host: '127.0.0.1',
      port: 0,
      server: kind,
      authorizer,
      logger: createLogger({ level: 'info' }, logs),
    });
    client = connect(server.port);
  });

  afterAll(async () => {
    client.close();
    await server.close();
  });

  beforeEach(() => {
    authorizer.inputs.length = 0;
    authorizer.ready = false;
    authorizer.answerWith(() => ALLOW);
    logs.lines.length = 0;
  });

  async function check(request: CheckRequestMessage = ENVOY_GET_REQUEST) {
    const { response, error } = await unary(client, Check, request);
    // Never a gRPC error: Envoy's failure_mode_allow could turn one into an allow.
    expect(error).toBeUndefined();
    if (response === undefined) throw new Error('unreachable');
    return response;
  }

  describe('gRPC ext_authz server', () => {
    it('listens on the port it was given, 0 meaning any free port', () => {
      expect(server.port).toBeGreaterThan(0);
    });

    it('allow: status OK, ok_response headers that overwrite, removals, response headers', async () => {
      const response = await check();

      expect(response.status.code).toBe(GrpcStatus.OK);
      // A oneof: the member that is not set is absent.
      expect(response.denied_response).toBeUndefined();
      expect(response.ok_response?.headers).toMatchObject([
        {
          header: { key: 'x-gatehouse-subject', value: 'alice' },
          append_action: HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD,
        },
      ]);
      // The deprecated BoolValue stays unset: when set, Envoy ignores append_action.
      expect(response.ok_response?.headers[0]).toHaveProperty('append', null);
      expect(response.ok_response?.headers_to_remove).toEqual(['authorization']);
      expect(response.ok_response?.response_headers_to_add).toMatchObject([
        {
          header: { key: 'x-ratelimit-remaining', value: '99' },
          append_action: HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD,
        },
      ]);
    });

    it('deny 401: UNAUTHENTICATED with denied_response 401 and WWW-Authenticate', async () => {
      authorizer.answerWith(() =>
        deny('GH_ERR_TOKEN_EXPIRED', 'exp 1767225600 < now 1767229200', { realm: 'shop' }),
      );
      const response = await check();

      expect(response.status).toEqual(
        expect.objectContaining({
          code: GrpcStatus.UNAUTHENTICATED,
          message: 'GH_ERR_TOKEN_EXPIRED',
        }),
      );
      expect(response.ok_response).toBeUndefined();
      expect(response.denied_response?.status.code).toBe(401);
      const challenge = response.denied_response?.headers.find(
        (option) => option.header.key === 'www-authenticate',
      );
      expect(challenge).toMatchObject({
        header: {
          value:
            'Bearer realm="shop", error="invalid_token", error_description="the token has expired"',
        },
        append_action: HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD,
      });
      expect(JSON.parse(response.denied_response?.body ?? '')).toEqual(
        expect.objectContaining({ error: 'GH_ERR_TOKEN_EXPIRED', status: 401 }),
      );
    });

    it('deny 403: PERMISSION_DENIED with denied_response 403', async () => {
      authorizer.answerWith(() => deny('GH_ERR_POLICY_DENIED', 'api-level policy', { realm: 'r' }));
      const response = await check();

      expect(response.status.code).toBe(GrpcStatus.PERMISSION_DENIED);
      expect(response.status.message).toBe('GH_ERR_POLICY_DENIED');
      expect(response.denied_response?.status.code).toBe(403);
    });

    it('fail-open: an authorizer that throws yields an explicit 403 deny, not a gRPC error', async () => {
      authorizer.answerWith(() => {
        throw new Error('wasm instance trapped: unreachable');
      });
      const response = await check();

      expect(response.status).toEqual(
        expect.objectContaining({ code: GrpcStatus.PERMISSION_DENIED, message: 'GH_ERR_INTERNAL' }),
      );
      expect(response.denied_response?.status.code).toBe(403);
      expect(response.denied_response?.body).toContain('GH_ERR_INTERNAL');
      expect(response.denied_response?.body).not.toContain('wasm');
      expect(logs.lines).toContainEqual(
        expect.objectContaining({ msg: LOG.checkFailed, code: 'GH_ERR_INTERNAL', stage: 'check' }),
      );
    });

    it('fail-open: an authorizer that rejects yields an explicit 403 deny', async () => {
      authorizer.answerWith(() => Promise.reject(new Error('introspection endpoint down')));
      const response = await check();

      expect(response.status.code).toBe(GrpcStatus.PERMISSION_DENIED);
      expect(response.denied_response?.status.code).toBe(403);
    });

    it('fail-open: a decision the mapping cannot read yields an explicit 403 deny', async () => {
      authorizer.answerWith(
        () => ({ allowed: false, code: 'GH_ERR_NOT_A_CODE' }) as unknown as Decision,
      );
      const response = await check();

      expect(response.status).toEqual(
        expect.objectContaining({ code: GrpcStatus.PERMISSION_DENIED, message: 'GH_ERR_INTERNAL' }),
      );
      expect(response.denied_response?.status.code).toBe(403);
      expect(logs.messages()).toContain(LOG.checkFailed);
    });

    it('fail-open: a response the encoder rejects yields an explicit 403 deny', async () => {
      // A header value protobuf cannot encode as a string field makes the encoder throw.
      authorizer.answerWith(() => ({
        ...ALLOW,
        upstreamHeaders: [['x-bad', { toString: null } as unknown as string]],
      }));
      const response = await check();

      expect(response.status.message).toBe('GH_ERR_INTERNAL');
      expect(response.denied_response?.status.code).toBe(403);
      expect(logs.lines).toContainEqual(
        expect.objectContaining({ msg: LOG.checkFailed, stage: 'encode' }),
      );
    });

    it('fail-open: bytes that are not a CheckRequest yield an explicit 403 deny', async () => {
      // A length-delimited field 1 (attributes) that claims more bytes than follow.
      const garbage = Buffer.from([0x0a, 0xff, 0xff, 0x03]);
      const { response, error } = await rawUnary(client, Check, () => garbage, null);

      expect(error).toBeUndefined();
      expect(response?.status.message).toBe('GH_ERR_INTERNAL');
      expect(response?.denied_response?.status.code).toBe(403);
      expect(authorizer.inputs).toHaveLength(0);
      expect(logs.lines).toContainEqual(
        expect.objectContaining({ msg: LOG.checkFailed, stage: 'decode' }),
      );
    });

    it.each([
      // attributes { metadata_context { filter_metadata { key: "ns" } } }: an entry without its
      // Struct, which protobufjs decoded as null and then failed to convert.
      [
        'a metadata entry without a value',
        [0x0a, 0x08, 0x5a, 0x06, 0x0a, 0x04, 0x0a, 0x02, 0x6e, 0x73],
      ],
      // attributes { source { ... } } whose Peer claims one byte more than its parent holds.
      ['a sub-message longer than its parent', [0x0a, 0x03, 0x0a, 0x03, 0x12, 0x00]],
      // A group start (wire type 3) that never ends.
      ['an unterminated group', [0x0a, 0x02, 0xa3, 0x01]],
    ])(
      'fail-open: %s (the direct decoder refuses it) yields an explicit 403 deny',
      async (_name, wire) => {
        const { response, error } = await rawUnary(client, Check, () => Buffer.from(wire), null);

        expect(error).toBeUndefined();
        expect(response?.status.code).toBe(7);
        expect(response?.status.message).toBe('GH_ERR_INTERNAL');
        expect(response?.denied_response?.status.code).toBe(403);
        expect(authorizer.inputs).toHaveLength(0);
        expect(logs.lines).toContainEqual(
          expect.objectContaining({ msg: LOG.checkFailed, stage: 'decode' }),
        );
      },
    );

    it('passes the CheckRequest fields to the authorizer as a CheckInput', async () => {
      await check({
        attributes: {
          ...ENVOY_GET_REQUEST.attributes,
          request: {
            http: {
              ...ENVOY_GET_REQUEST.attributes.request.http,
              headers: { ...ENVOY_GET_REQUEST.attributes.request.http.headers, 'X-Tenant': 'acme' },
            },
          },
        },
      });

      expect(authorizer.inputs).toHaveLength(1);
      const input = authorizer.inputs[0];
      expect(input).toEqual(expect.objectContaining(ENVOY_GET_REQUEST_FIELDS));
      expect(input?.headers['x-tenant']).toBe('acme');
      expect(input?.headers.authorization).toBe(
        ENVOY_GET_REQUEST.attributes.request.http.headers.authorization,
      );
      expect(Object.keys(input?.headers ?? {}).every((name) => name === name.toLowerCase())).toBe(
        true,
      );
      expect(input?.source).toEqual({
        address: '10.244.1.17',
        port: 51234,
        principal: 'spiffe://cluster.local/ns/shop/sa/frontend',
        certificate: ENVOY_GET_REQUEST.attributes.source.certificate,
      });
      expect(input?.destination).toEqual({
        address: '10.244.2.9',
        port: 8080,
        principal: 'spiffe://cluster.local/ns/shop/sa/orders',
        certificate: undefined,
      });
    });

    it('uses header_map and raw_body over the wire (encode_raw_headers, pack_as_bytes)', async () => {
      await check(ENVOY_RAW_HEADERS_POST);

      const input = authorizer.inputs[0];
      expect(input?.method).toBe('POST');
      expect(input?.headers['x-forwarded-for']).toBe('203.0.113.7,10.0.0.1');
      expect(input?.headers[':authority']).toBe('api.shop.example');
      expect(input?.body).toBe('{"item":"book","qty":1}');
    });
  });

  describe('gRPC health', () => {
    it('Check: NOT_SERVING before the first snapshot, SERVING after', async () => {
      for (const service of ['', 'envoy.service.auth.v3.Authorization']) {
        authorizer.ready = false;
        const before = await unary(client, Health.Check, { service });
        expect(before.response?.status).toBe(ServingStatus.NOT_SERVING);

        authorizer.ready = true;
        const after = await unary(client, Health.Check, { service });
        expect(after.response?.status).toBe(ServingStatus.SERVING);
      }
    });

    it('Check: an unknown service is NOT_FOUND', async () => {
      const { error } = await unary(client, Health.Check, { service: 'payments.v1.Payments' });
      expect(error?.code).toBe(GrpcStatus.NOT_FOUND);
    });

    it('Watch: sends the current status, then the change, and ends on cancel', async () => {
      const stream = serverStream(client, Health.Watch, { service: '' });
      const seen: number[] = [];
      const cancelled = new Promise<void>((resolve) => {
        stream.on('error', (error: { code?: number }) => {
          expect(error.code).toBe(GrpcStatus.CANCELLED);
          resolve();
        });
      });
      const serving = new Promise<void>((resolve) => {
        stream.on('data', (message: { status: number }) => {
          seen.push(message.status);
          if (seen.length === 1) authorizer.ready = true;
          if (message.status === ServingStatus.SERVING) resolve();
        });
      });

      await serving;
      expect(seen).toEqual([ServingStatus.NOT_SERVING, ServingStatus.SERVING]);
      stream.cancel();
      await cancelled;
    });

    it('Watch: an unknown service gets SERVICE_UNKNOWN and the stream stays open', async () => {
      const stream = serverStream(client, Health.Watch, { service: 'payments.v1.Payments' });
      const first = await new Promise<number>((resolve) => {
        stream.once('data', (message: { status: number }) => {
          resolve(message.status);
        });
      });
      expect(first).toBe(ServingStatus.SERVICE_UNKNOWN);
      stream.on('error', () => undefined);
      stream.cancel();
    });
  });

  describe('gRPC server limits and lifecycle', () => {
    it('oversized CheckRequest: an explicit 403 deny, not RESOURCE_EXHAUSTED', async () => {
      const small = await startGrpcServer({
        host: '127.0.0.1',
        port: 0,
        server: kind,
        authorizer,
        logger: createLogger({ level: 'info' }, logs),
        maxReceiveMessageBytes: 1024,
      });
      const smallClient = connect(small.port);
      try {
        const big = {
          attributes: { request: { http: { method: 'POST', body: 'x'.repeat(2048) } } },
        };
        const { response, error } = await unary(smallClient, Check, big);

        expect(error).toBeUndefined();
        expect(response?.status.message).toBe('GH_ERR_INTERNAL');
        expect(response?.denied_response?.status.code).toBe(403);
        expect(authorizer.inputs).toHaveLength(0);
      } finally {
        smallClient.close();
        await small.close();
      }
    });

    it('close(): ends open health watches and shuts down without waiting for the grace period', async () => {
      const other = await startGrpcServer({
        host: '127.0.0.1',
        port: 0,
        server: kind,
        authorizer,
        logger: createLogger({ level: 'info' }, logs),
      });
      const otherClient = connect(other.port);
      const stream = serverStream(otherClient, Health.Watch, { service: '' });
      await new Promise((resolve) => stream.once('data', resolve));
      const ended = new Promise((resolve) => stream.on('end', resolve));

      const started = Date.now();
      await other.close();
      await ended;
      expect(Date.now() - started).toBeLessThan(1000);
      expect(logs.messages()).not.toContain(LOG.grpcShutdownForced);

      const after = await unary(otherClient, Health.Check, { service: '' });
      expect(after.error?.code).toBe(GrpcStatus.UNAVAILABLE);
      otherClient.close();
    });

    it('close(graceMs): a Check still undecided past the grace is cut off, never answered with an allow, and the forced shutdown is logged', async () => {
      const stuck = new RecordingAuthorizer(() => new Promise<Decision>(() => undefined));
      const other = await startGrpcServer({
        host: '127.0.0.1',
        port: 0,
        server: kind,
        authorizer: stuck,
        logger: createLogger({ level: 'info' }, logs),
      });
      const otherClient = connect(other.port);
      const pending = unary(otherClient, Check, ENVOY_GET_REQUEST);
      await expect.poll(() => stuck.inputs.length).toBe(1);

      await other.close(200);
      // grpc-js's forceShutdown leaves the client's call open (Envoy's timeout then ends it);
      // Gatehouse's server resets the stream, so the client learns at once.
      const outcome = await Promise.race([
        pending,
        new Promise<undefined>((resolve) => {
          setTimeout(() => {
            resolve(undefined);
          }, 2000);
        }),
      ]);
      expect(outcome?.response).toBeUndefined();
      if (kind === 'gatehouse') {
        expect([GrpcStatus.CANCELLED, GrpcStatus.UNAVAILABLE, GrpcStatus.INTERNAL]).toContain(
          outcome?.error?.code,
        );
      }
      expect(logs.messages()).toContain(LOG.grpcShutdownForced);
      otherClient.close();
    });

    it('rejects a maxReceiveMessageBytes that is not a positive integer', async () => {
      await expect(
        startGrpcServer({
          host: '127.0.0.1',
          port: 0,
          server: kind,
          authorizer,
          logger: createLogger({ level: 'silent' }),
          maxReceiveMessageBytes: 0,
        }),
      ).rejects.toThrow(/maxReceiveMessageBytes/);
    });
  });
});
