import { describe, expect, it } from 'vitest';
import { deny, type AllowDecision } from '../../../src/decision/decision.js';
import { DENY_CODES, type DenyCode } from '../../../src/decision/deny-codes.js';
import { decisionToCheckResponse } from '../../../src/transport/grpc/ext-authz-response.js';
import { loadProtos } from '../../../src/transport/grpc/load-protos.js';
import { HeaderAppendAction } from '../../../src/transport/grpc/wire-types.js';

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

describe('decisionToCheckResponse', () => {
  it('allow: status OK and an ok_response whose headers overwrite the client’s', () => {
    expect(decisionToCheckResponse(ALLOW)).toEqual({
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
    });
  });

  it('allow: a repeated name overwrites once, then appends (names compared case-insensitively)', () => {
    const response = decisionToCheckResponse({
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
    const response = decisionToCheckResponse({
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
    const response = decisionToCheckResponse(decision);

    expect(response.status).toEqual({ code: 16, message: 'GH_ERR_TOKEN_EXPIRED' });
    expect(response.ok_response).toBeUndefined();
    expect(response.denied_response).toEqual({
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
    });
  });

  it('information leak: the deny reason never reaches the response', () => {
    const reason = 'signature check failed for kid internal-key-3 at https://idp.internal/jwks';
    const response = decisionToCheckResponse(
      deny('GH_ERR_TOKEN_SIGNATURE', reason, { realm: 'r' }),
    );
    expect(JSON.stringify(response)).not.toContain('internal-key-3');
    expect(JSON.stringify(response)).not.toContain('idp.internal');
  });

  it.each(Object.keys(DENY_CODES) as DenyCode[])(
    '%s: gRPC code and HTTP status come from the deny-code table',
    (code) => {
      const response = decisionToCheckResponse(deny(code, 'test', { realm: 'r' }));
      expect(response.status).toEqual({ code: DENY_CODES[code].grpcCode, message: code });
      expect(response.denied_response?.status.code).toBe(DENY_CODES[code].status);
    },
  );

  it('deny: a policy-chosen status and body are passed through', () => {
    const response = decisionToCheckResponse(
      deny('GH_ERR_POLICY_DENIED', 'policy said no', {
        realm: 'r',
        status: 418,
        body: 'no tea',
        headers: [['x-policy', 'teapot']],
      }),
    );
    expect(response.status.code).toBe(7);
    expect(response.denied_response).toEqual({
      status: { code: 418 },
      headers: [{ header: { key: 'x-policy', value: 'teapot' }, append_action: OVERWRITE }],
      body: 'no tea',
    });
  });

  it('encodes with the real protos and decodes to the same values', () => {
    const { Check } = loadProtos().authorization;
    for (const decision of [ALLOW, deny('GH_ERR_NO_CREDENTIAL', 'none', { realm: 'shop' })]) {
      const response = decisionToCheckResponse(decision);
      const decoded = Check.responseDeserialize(Check.responseSerialize(response));
      expect(decoded).toMatchObject(response);
    }
  });
});
