import {
  status as GrpcStatus,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import type { H2ServerStream } from '../h2/h2-server.js';
import { encodeHeaderBlock } from '../h2/hpack-encoder.js';
import {
  H2GrpcCall,
  trailersOnlyBlock,
  type AnyHandler,
  type AnyMethodDefinition,
  type GrpcRoute,
} from './h2-grpc-call.js';

/** HTTP 415 alone, as grpc-js answers a request that is not gRPC (PROTOCOL-HTTP2.md). */
const UNSUPPORTED_MEDIA_TYPE_BLOCK = encodeHeaderBlock([[':status', '415']]);

/**
 * The gRPC layer of Gatehouse's own HTTP/2 server (`grpc.server: gatehouse`): routes each
 * stream by `:path` to a method registered with `addService` (grpc-js service definitions and
 * handlers, so the ext_authz, health and @grpc/reflection services run unchanged) and runs
 * it as an H2GrpcCall. Streams reach it through `onStream`, given to createH2Server.
 */
export class H2GrpcServer {
  private readonly routes = new Map<string, GrpcRoute>();

  /**
   * maxReceiveMessageBytes: the largest message read; past it, RESOURCE_EXHAUSTED from the
   * message's length prefix, before it is buffered.
   */
  constructor(private readonly maxReceiveMessageBytes: number) {}

  /** grpc-js's Server.addService, so @grpc/reflection's addToServer takes this server too. */
  addService(service: ServiceDefinition, implementation: UntypedServiceImplementation): void {
    const methods = Object.entries(service) as [string, AnyMethodDefinition][];
    if (methods.length === 0) throw new Error('Cannot add an empty service to a server');
    for (const [name, method] of methods) {
      // grpc-js accepts a handler under the method's name or its originalName (camelCase).
      const handler = (implementation[name] ??
        (method.originalName === undefined ? undefined : implementation[method.originalName])) as
        AnyHandler | undefined;
      // Without a handler the path stays unknown: UNIMPLEMENTED, as grpc-js's default handler.
      if (typeof handler !== 'function') continue;
      if (this.routes.has(method.path)) {
        throw new Error(`Method handler for ${method.path} already provided.`);
      }
      this.routes.set(method.path, { method, handler });
    }
  }

  /** Every request stream the HTTP/2 server accepts. */
  readonly onStream = (stream: H2ServerStream): void => {
    const contentType = stream.header('content-type');
    // grpc-js takes any "application/grpc..." ("+proto", "+json", "; charset"), so does this.
    if (contentType?.startsWith('application/grpc') !== true) {
      stream.sendHeaders(UNSUPPORTED_MEDIA_TYPE_BLOCK, true);
      return;
    }
    const path = stream.header(':path') ?? '';
    const route = this.routes.get(path);
    if (route === undefined) {
      stream.sendHeaders(
        trailersOnlyBlock({
          code: GrpcStatus.UNIMPLEMENTED,
          details: `The server does not implement the method ${path}`,
        }),
        true,
      );
      return;
    }
    // `te: trailers` is not required: grpc-js does not require it either.
    new H2GrpcCall(stream, route, this.maxReceiveMessageBytes).start();
  };
}
