import { createRequire } from 'node:module';
import path from 'node:path';
import { credentials, loadPackageDefinition, type GrpcObject } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import descriptor, {
  type IDescriptorProto,
  type IFileDescriptorProto,
} from 'protobufjs/ext/descriptor/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGatehouse, type TestGatehouse } from '../../helpers/test-gatehouse.js';
import { GRPC_SERVERS } from './grpc-test-client.js';

// gRPC server reflection, asked by a real grpc-js client over the reflection protocol (what
// grpcurl does without -proto): the services are listed and their descriptors served.

const require = createRequire(import.meta.url);
const REFLECTION_PROTO = path.join(
  path.dirname(require.resolve('@grpc/reflection/package.json')),
  'build/proto/grpc/reflection/v1/reflection.proto',
);

interface ReflectionResponse {
  list_services_response?: { service: Array<{ name: string }> };
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  error_response?: { error_code: number };
}

interface ReflectionStream {
  write(request: Record<string, string>): void;
  end(): void;
  on(event: 'data', listener: (response: ReflectionResponse) => void): void;
  on(event: 'error', listener: (error: Error & { code?: number }) => void): void;
}

type ReflectionClient = new (
  address: string,
  creds: ReturnType<typeof credentials.createInsecure>,
) => { ServerReflectionInfo(): ReflectionStream; close(): void };

const reflectionPackage = loadPackageDefinition(
  loadSync(REFLECTION_PROTO, { keepCase: true, defaults: true }),
) as unknown as {
  grpc: { reflection: { v1: GrpcObject & { ServerReflection: ReflectionClient } } };
};

/** One reflection request and its one answer (or the call's error). */
function ask(port: number, request: Record<string, string>): Promise<ReflectionResponse> {
  const client = new reflectionPackage.grpc.reflection.v1.ServerReflection(
    `127.0.0.1:${port}`,
    credentials.createInsecure(),
  );
  return new Promise<ReflectionResponse>((resolve, reject) => {
    const call = client.ServerReflectionInfo();
    call.on('data', (response) => {
      resolve(response);
      call.end();
    });
    call.on('error', reject);
    call.write(request);
  }).finally(() => {
    client.close();
  });
}

describe.each(GRPC_SERVERS)('on the %s gRPC server', (server) => {
  describe('gRPC server reflection (grpc.reflection.v1)', () => {
    let t: TestGatehouse;
    beforeAll(async () => {
      t = await startTestGatehouse({
        config: { grpc: { host: '127.0.0.1', port: 0, server } },
      });
    });
    afterAll(async () => {
      await t.close();
    });

    it('lists the ext_authz and health services, so grpcurl needs no -proto', async () => {
      const answer = await ask(t.gatehouse.grpcPort ?? 0, { list_services: '' });
      const names = answer.list_services_response?.service.map((service) => service.name) ?? [];
      expect(names).toEqual(
        expect.arrayContaining(['envoy.service.auth.v3.Authorization', 'grpc.health.v1.Health']),
      );
    });

    it('serves the file descriptor of the Authorization service', async () => {
      const answer = await ask(t.gatehouse.grpcPort ?? 0, {
        file_containing_symbol: 'envoy.service.auth.v3.Authorization',
      });
      const files = answer.file_descriptor_response?.file_descriptor_proto ?? [];
      expect(files.length).toBeGreaterThan(0);
      // The descriptor names the service, its method and its messages (grpcurl describes them).
      const text = Buffer.concat(files).toString('latin1');
      for (const name of ['Authorization', 'Check', 'CheckRequest', 'CheckResponse']) {
        expect(text).toContain(name);
      }
    });

    // What grpcurl's descriptor library checks before it can describe or call Check: every
    // type a file names is fully qualified and defined in the file or one it depends on,
    // and a map field's entry type is named as protoc names it.
    it('serves descriptors a reflection client can resolve on their own (no -proto)', async () => {
      const answer = await ask(t.gatehouse.grpcPort ?? 0, {
        file_containing_symbol: 'envoy.service.auth.v3.Authorization',
      });
      const files = (answer.file_descriptor_response?.file_descriptor_proto ?? []).map(
        (bytes) => descriptor.FileDescriptorProto.decode(bytes) as IFileDescriptorProto,
      );
      const defined = new Map<string, Set<string>>();
      const collect = (
        scope: string,
        messages: IDescriptorProto[] | undefined,
        into: Set<string>,
      ): void => {
        for (const message of messages ?? []) {
          const name = `${scope}.${message.name ?? ''}`;
          into.add(name);
          for (const e of message.enumType ?? []) into.add(`${name}.${e.name ?? ''}`);
          collect(name, message.nestedType, into);
        }
      };
      for (const file of files) {
        const names = new Set<string>();
        collect(`.${file.package ?? ''}`, file.messageType, names);
        for (const e of file.enumType ?? []) names.add(`.${file.package ?? ''}.${e.name ?? ''}`);
        defined.set(file.name ?? '', names);
      }
      const unresolved: string[] = [];
      const check = (file: IFileDescriptorProto, where: string, type: string): void => {
        const visible = [file.name ?? '', ...((file.dependency as string[] | undefined) ?? [])];
        if (!type.startsWith('.') || !visible.some((name) => defined.get(name)?.has(type)))
          unresolved.push(`${where}: ${type}`);
      };
      const walk = (
        file: IFileDescriptorProto,
        scope: string,
        messages: IDescriptorProto[] | undefined,
      ): void => {
        for (const message of messages ?? []) {
          const name = `${scope}.${message.name ?? ''}`;
          for (const field of message.field ?? []) {
            if (field.typeName !== undefined && field.typeName !== '')
              check(file, `${name}.${field.name ?? ''}`, field.typeName);
            const entry = message.nestedType?.find(
              (n) => `${name}.${n.name ?? ''}` === field.typeName,
            );
            if (entry?.options?.mapEntry === true)
              expect(entry.name?.toLowerCase()).toBe(
                `${(field.name ?? '').replaceAll('_', '')}entry`,
              );
          }
          walk(file, name, message.nestedType);
        }
      };
      for (const file of files) {
        walk(file, `.${file.package ?? ''}`, file.messageType);
        for (const service of file.service ?? [])
          for (const method of service.method ?? []) {
            check(file, `${service.name ?? ''}.${method.name ?? ''}`, method.inputType ?? '');
            check(file, `${service.name ?? ''}.${method.name ?? ''}`, method.outputType ?? '');
          }
      }
      expect(files.map((file) => file.package)).toEqual(
        expect.arrayContaining(['envoy.service.auth.v3', 'envoy.type.v3', 'google.protobuf']),
      );
      expect(unresolved).toEqual([]);
    });
  });

  describe('gRPC reflection turned off', () => {
    let t: TestGatehouse;
    beforeAll(async () => {
      t = await startTestGatehouse({
        config: { grpc: { host: '127.0.0.1', port: 0, reflection: false, server } },
      });
    });
    afterAll(async () => {
      await t.close();
    });

    it('grpc.reflection: false answers UNIMPLEMENTED', async () => {
      await expect(ask(t.gatehouse.grpcPort ?? 0, { list_services: '' })).rejects.toMatchObject({
        code: 12,
      });
    });
  });
});
