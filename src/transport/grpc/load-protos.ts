import { fileURLToPath } from 'node:url';
import type { MethodDefinition } from '@grpc/grpc-js';
import { loadSync, type Options, type PackageDefinition } from '@grpc/proto-loader';
import type {
  CheckRequestMessage,
  CheckResponseMessage,
  HealthCheckRequestMessage,
  HealthCheckResponseMessage,
} from './wire-types.js';

/**
 * The proto/ folder at the repository root. This module sits three folders below the root
 * both as source (src/transport/grpc/, run by tsx and vitest) and compiled
 * (dist/transport/grpc/, tsconfig.build.json has rootDir src), so one relative URL serves both.
 */
export const PROTO_DIR = fileURLToPath(new URL('../../../proto/', import.meta.url));

/** The entry files; their imports (envoy/config/core/v3/..., google/rpc/...) follow. */
export const PROTO_FILES = [
  'envoy/service/auth/v3/external_auth.proto',
  'grpc/health/v1/health.proto',
] as const;

export const AUTHORIZATION_SERVICE = 'envoy.service.auth.v3.Authorization';
export const HEALTH_SERVICE = 'grpc.health.v1.Health';

/**
 * Decoding options. The wire-types.ts shapes depend on them: snake_case names as in the
 * .proto files, enums and int64 as numbers, defaults filled in, and the name of the set
 * member on each oneof. google/protobuf/{any,struct,wrappers,timestamp}.proto come from
 * protobufjs's built-in copies.
 */
export function protoLoaderOptions(protoDir: string = PROTO_DIR): Options {
  return {
    keepCase: true,
    longs: Number,
    enums: Number,
    defaults: true,
    oneofs: true,
    includeDirs: [protoDir],
  };
}

/** Every message, enum and service in proto/, by fully-qualified name. */
export function loadPackageDefinition(protoDir: string = PROTO_DIR): PackageDefinition {
  return loadSync([...PROTO_FILES], protoLoaderOptions(protoDir));
}

// Type aliases, not interfaces: grpc-js's ServiceDefinition is an index-signature type, and
// only aliases are assignable to one.
export type AuthorizationServiceDefinition = {
  readonly Check: MethodDefinition<CheckRequestMessage, CheckResponseMessage>;
};

export type HealthServiceDefinition = {
  readonly Check: MethodDefinition<HealthCheckRequestMessage, HealthCheckResponseMessage>;
  readonly Watch: MethodDefinition<HealthCheckRequestMessage, HealthCheckResponseMessage>;
};

export interface GatehouseProtos {
  readonly authorization: AuthorizationServiceDefinition;
  readonly health: HealthServiceDefinition;
}

/** Loads proto/ and returns the two services Gatehouse serves, for servers and clients alike. */
export function loadProtos(protoDir: string = PROTO_DIR): GatehouseProtos {
  const definition = loadPackageDefinition(protoDir);
  return {
    authorization: {
      Check: method(definition, AUTHORIZATION_SERVICE, 'Check'),
    },
    health: {
      Check: method(definition, HEALTH_SERVICE, 'Check'),
      Watch: method(definition, HEALTH_SERVICE, 'Watch'),
    },
  };
}

function method<Req extends object, Res extends object>(
  definition: PackageDefinition,
  serviceName: string,
  methodName: string,
): MethodDefinition<Req, Res> {
  const service = definition[serviceName];
  // Message and enum definitions carry a `format`; services do not.
  if (service === undefined || 'format' in service) {
    throw new Error(`${serviceName} is not a service in ${PROTO_DIR}`);
  }
  const found = service[methodName];
  if (found === undefined) {
    throw new Error(`${serviceName} has no method ${methodName}`);
  }
  return {
    path: found.path,
    requestStream: found.requestStream,
    responseStream: found.responseStream,
    requestSerialize: found.requestSerialize,
    responseSerialize: found.responseSerialize,
    // proto-loader types decoded messages as `object`; the shape is the one wire-types.ts
    // describes for the options above, and the mappers still narrow every field they read.
    requestDeserialize: (bytes) => found.requestDeserialize(bytes) as Req,
    responseDeserialize: (bytes) => found.responseDeserialize(bytes) as Res,
  };
}
