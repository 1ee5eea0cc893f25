import {
  Client,
  credentials,
  type MethodDefinition,
  type ServiceError,
  type ClientReadableStream,
} from '@grpc/grpc-js';
import type { Authorizer } from '../../../src/check/authorizer.js';
import type { CheckInput } from '../../../src/check/check-input.js';
import type { Decision } from '../../../src/decision/decision.js';
import { loadProtos } from '../../../src/transport/grpc/load-protos.js';

/** The outcome of a unary call: a response, or the gRPC error the server answered. */
export type UnaryResult<Res> =
  | { readonly response: Res; readonly error: undefined }
  | { readonly response: undefined; readonly error: ServiceError };

export function connect(port: number): Client {
  return new Client(`127.0.0.1:${port}`, credentials.createInsecure());
}

/** A unary call through grpc-js with the method's own (proto-loader) encoder and decoder. */
export function unary<Req, Res>(
  client: Client,
  method: MethodDefinition<Req, Res>,
  request: Req,
): Promise<UnaryResult<Res>> {
  return rawUnary(client, method, method.requestSerialize, request);
}

let checkMethod: ReturnType<typeof loadProtos>['authorization']['Check'] | undefined;

/** A Check of GET /users/me on host `h` with `Authorization: Bearer <token>`, as Envoy sends it. */
export function bearerUsersMeCheck(client: Client, token: string) {
  checkMethod ??= loadProtos().authorization.Check;
  return unary(client, checkMethod, {
    attributes: {
      request: {
        http: {
          method: 'GET',
          path: '/users/me',
          host: 'h',
          headers: { authorization: `Bearer ${token}` },
        },
      },
    },
  });
}

/** Like unary(), with a caller-chosen encoder: for sending bytes no proto encoder produces. */
export function rawUnary<Req, Res, Sent>(
  client: Client,
  method: MethodDefinition<Req, Res>,
  serialize: (value: Sent) => Buffer,
  request: Sent,
): Promise<UnaryResult<Res>> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      method.path,
      serialize,
      method.responseDeserialize,
      request,
      (error, response) => {
        if (error !== null) resolve({ response: undefined, error });
        else if (response === undefined) throw new Error('no error and no response');
        else resolve({ response, error: undefined });
      },
    );
  });
}

export function serverStream<Req, Res>(
  client: Client,
  method: MethodDefinition<Req, Res>,
  request: Req,
): ClientReadableStream<Res> {
  return client.makeServerStreamRequest(
    method.path,
    method.requestSerialize,
    method.responseDeserialize,
    request,
  );
}

/**
 * A stand-in for the pipeline. The pipeline has its own tests; these suites test the wire
 * mapping, so the authorizer answers whatever the test sets and records what it was asked.
 */
export class RecordingAuthorizer implements Authorizer {
  readonly inputs: CheckInput[] = [];
  ready = false;

  constructor(private answer: (input: CheckInput) => Decision | Promise<Decision>) {}

  answerWith(answer: (input: CheckInput) => Decision | Promise<Decision>): void {
    this.answer = answer;
  }

  async check(input: CheckInput): Promise<Decision> {
    this.inputs.push(input);
    const decision = await this.answer(input);
    return decision;
  }

  isReady(): boolean {
    return this.ready;
  }
}

/** Collects a pino logger's JSON lines. */
export class LogSink {
  readonly lines: Array<Record<string, unknown>> = [];

  write(line: string): void {
    this.lines.push(JSON.parse(line) as Record<string, unknown>);
  }

  messages(): string[] {
    return this.lines.map((line) => String(line.msg));
  }
}

/**
 * The two gRPC servers Gatehouse can run (`grpc.server`): the suites of the gRPC door run
 * against each (describe.each), since both must answer every call alike.
 */
export const GRPC_SERVERS = ['grpc-js', 'gatehouse'] as const;
