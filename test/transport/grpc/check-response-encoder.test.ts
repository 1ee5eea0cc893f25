import { describe, expect, it } from 'vitest';
import { deny, type AllowDecision, type Decision } from '../../../src/decision/decision.js';
import { DENY_CODES, type DenyCode } from '../../../src/decision/deny-codes.js';
import { encodeCheckResponse } from '../../../src/transport/grpc/check-response-encoder.js';
import { loadProtos } from '../../../src/transport/grpc/load-protos.js';
import {
  HeaderAppendAction,
  type CheckResponseMessage,
} from '../../../src/transport/grpc/wire-types.js';
import {
  decisionToCheckResponse,
  protoLoaderCheckResponse,
} from './proto-loader-check-response.js';

const OVERWRITE = HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD;
const APPEND = HeaderAppendAction.APPEND_IF_EXISTS_OR_ADD;

const ALLOW: AllowDecision = {
  allowed: true,
  code: 'GH_OK',
  api: { id: 'orders-get', service: 'orders' },
  upstreamHeaders: [
    ['x-gatehouse-subject', 'alice'],
    ['x-gatehouse-api', 'orders-get'],
  ],
  upstreamHeadersToRemove: ['authorization'],
  responseHeaders: [['x-ratelimit-remaining', '99']],
  revision: 'rev-7',
};

const { Check } = loadProtos().authorization;

/** What Envoy reads from the encoder's bytes, as proto-loader decodes them. */
function decisionToCheckResponseOnTheWire(decision: Decision): CheckResponseMessage {
  return Check.responseDeserialize(encodeCheckResponse(decision));
}

/** A plain message as it reads after the wire (defaults filled in), for exact comparisons. */
function viaWire(message: CheckResponseMessage): CheckResponseMessage {
  return Check.responseDeserialize(Check.responseSerialize(message));
}

describe('encodeCheckResponse', () => {
  it('allow: status OK and an ok_response whose headers overwrite the client’s', () => {
    expect(decisionToCheckResponseOnTheWire(ALLOW)).toEqual(
      viaWire({
        status: { code: 0, message: '' },
        ok_response: {
          headers: [
            { header: { key: 'x-gatehouse-subject', value: 'alice' }, append_action: OVERWRITE },
            { header: { key: 'x-gatehouse-api', value: 'orders-get' }, append_action: OVERWRITE },
          ],
          headers_to_remove: ['authorization'],
          response_headers_to_add: [
            { header: { key: 'x-ratelimit-remaining', value: '99' }, append_action: OVERWRITE },
          ],
        },
      }),
    );
  });

  it('allow: a repeated name overwrites once, then appends (names compared case-insensitively)', () => {
    const response = decisionToCheckResponseOnTheWire({
      ...ALLOW,
      upstreamHeaders: [
        ['x-group', 'admins'],
        ['X-Group', 'auditors'],
      ],
    });
    expect(response.ok_response?.headers.map((h) => h.append_action)).toEqual([OVERWRITE, APPEND]);
  });

  it('allow: a header Gatehouse sets is not also in headers_to_remove (Envoy removes after setting)', () => {
    // A claimsToHeaders name is both set from the token and stripped from the client's
    // request. Envoy applies headers_to_remove after the headers, so listing it there
    // would strip the verified value too; the overwrite already replaces the client's.
    const response = decisionToCheckResponseOnTheWire({
      ...ALLOW,
      upstreamHeaders: [['x-user-sub', 'alice']],
      upstreamHeadersToRemove: ['X-User-Sub', 'x-tenant', 'x-internal-debug'],
    });
    expect(response.ok_response?.headers.map((h) => h.header.key)).toEqual(['x-user-sub']);
    expect(response.ok_response?.headers_to_remove).toEqual(['x-tenant', 'x-internal-debug']);
  });

  it('deny 401: UNAUTHENTICATED, the code as status message, the challenge header', () => {
    const decision = deny('GH_ERR_TOKEN_EXPIRED', 'exp 1767225600 is before now (kid k1)', {
      realm: 'shop',
    });
    const response = decisionToCheckResponseOnTheWire(decision);

    expect(response.status).toEqual({ code: 16, message: 'GH_ERR_TOKEN_EXPIRED', details: [] });
    expect(response.ok_response).toBeUndefined();
    expect(response.denied_response).toEqual(
      deniedViaWire({
        status: { code: 401 },
        headers: [
          {
            header: {
              key: 'www-authenticate',
              value:
                'Bearer realm="shop", error="invalid_token", error_description="the token has expired"',
            },
            append_action: OVERWRITE,
          },
          { header: { key: 'content-type', value: 'application/json' }, append_action: OVERWRITE },
        ],
        body: decision.body,
      }),
    );
  });

  it('information leak: the deny reason never reaches the response', () => {
    const reason = 'signature check failed for kid internal-key-3 at https://idp.internal/jwks';
    const bytes = encodeCheckResponse(deny('GH_ERR_TOKEN_SIGNATURE', reason, { realm: 'r' }));
    expect(bytes.toString('latin1')).not.toContain('internal-key-3');
    expect(bytes.toString('latin1')).not.toContain('idp.internal');
  });

  it.each(Object.keys(DENY_CODES) as DenyCode[])(
    '%s: gRPC code and HTTP status come from the deny-code table',
    (code) => {
      const response = decisionToCheckResponseOnTheWire(deny(code, 'test', { realm: 'r' }));
      expect(response.status).toEqual({
        code: DENY_CODES[code].grpcCode,
        message: code,
        details: [],
      });
      expect(response.denied_response?.status.code).toBe(DENY_CODES[code].status);
    },
  );

  it('deny: a policy-chosen status and body are passed through', () => {
    const response = decisionToCheckResponseOnTheWire(
      deny('GH_ERR_POLICY_DENIED', 'policy said no', {
        realm: 'r',
        status: 418,
        body: 'no tea',
        headers: [['x-policy', 'teapot']],
      }),
    );
    expect(response.status.code).toBe(7);
    expect(response.denied_response).toEqual(
      deniedViaWire({
        status: { code: 418 },
        headers: [{ header: { key: 'x-policy', value: 'teapot' }, append_action: OVERWRITE }],
        body: 'no tea',
      }),
    );
  });

  it('the bytes are the old proto-loader path’s, byte for byte, and decode to the same message', () => {
    for (const decision of [ALLOW, deny('GH_ERR_NO_CREDENTIAL', 'none', { realm: 'shop' })]) {
      const bytes = encodeCheckResponse(decision);
      expect(bytes.equals(protoLoaderCheckResponse(decision))).toBe(true);
      expect(Check.responseDeserialize(bytes)).toEqual(viaWire(decisionToCheckResponse(decision)));
    }
  });

  it('invalid UTF-8: a lone surrogate in a policy value is sent as U+FFFD, never as bytes a proto3 parser refuses', () => {
    // JSON can spell a lone surrogate ("\ud800"). protobufjs wrote one in a string under 40
    // units as the CESU-8 triple ED A0 80, which is not UTF-8: Envoy's protobuf parser refuses
    // the whole CheckResponse, a failed check that failure_mode_allow lets through.
    const decision: AllowDecision = {
      ...ALLOW,
      upstreamHeaders: [['x-policy', 'a\ud800b']],
      dynamicMetadata: { note: '\udc00' },
    };
    const cesu = Buffer.from([0xed, 0xa0, 0x80]);
    expect(protoLoaderCheckResponse(decision).includes(cesu)).toBe(true);

    const bytes = encodeCheckResponse(decision);
    expect(bytes.includes(cesu)).toBe(false);
    const response = Check.responseDeserialize(bytes);
    expect(response.ok_response?.headers[0]?.header.value).toBe('a\ufffdb');
    expect(response.dynamic_metadata?.fields?.note?.stringValue).toBe('\ufffd');
  });

  it('the allow that changes nothing: the constant bytes, the same after other encodes', () => {
    const bare: AllowDecision = {
      ...ALLOW,
      upstreamHeaders: [],
      upstreamHeadersToRemove: [],
      responseHeaders: [],
    };
    const first = encodeCheckResponse(bare);
    encodeCheckResponse(
      deny('GH_ERR_POLICY_DENIED', 'no', { realm: 'r', body: 'x'.repeat(70_000) }),
    );
    expect(encodeCheckResponse(bare).equals(first)).toBe(true);
    expect(first.equals(protoLoaderCheckResponse(bare))).toBe(true);
    expect(Check.responseDeserialize(first)).toEqual(
      viaWire({
        status: { code: 0, message: '' },
        ok_response: { headers: [], headers_to_remove: [], response_headers_to_add: [] },
      }),
    );
  });

  it('fail-closed: a value that is not a string or a deny code is refused with a throw, not written', () => {
    // The service answers a throw with the pre-encoded GH_ERR_INTERNAL deny
    // (grpc-server.test.ts); a half-written message must not reach the next call either.
    const notAString = { toString: null } as unknown as string;
    expect(() =>
      encodeCheckResponse({ ...ALLOW, upstreamHeaders: [['x-bad', notAString]] }),
    ).toThrow(TypeError);
    expect(() =>
      encodeCheckResponse({
        ...deny('GH_ERR_INTERNAL', 'x', { realm: 'r' }),
        code: 'GH_ERR_NOT_A_CODE' as DenyCode,
      }),
    ).toThrow(TypeError);
    expect(encodeCheckResponse(ALLOW).equals(protoLoaderCheckResponse(ALLOW))).toBe(true);
  });
});

/** A denied_response as it reads after the wire. */
function deniedViaWire(
  denied: NonNullable<CheckResponseMessage['denied_response']>,
): CheckResponseMessage['denied_response'] {
  return viaWire({ status: { code: 7, message: '' }, denied_response: denied }).denied_response;
}
