import type { PackageDefinition } from '@grpc/proto-loader';
import descriptor, {
  type IDescriptorProto,
  type IFileDescriptorProto,
} from 'protobufjs/ext/descriptor/index.js';

/**
 * proto-loader's file descriptors, made resolvable for reflection clients.
 *
 * proto-loader writes one FileDescriptorProto per package, with field and method types
 * relative to the package ("type.v3.HttpStatus") and no `dependency` list. A
 * FileDescriptorProto may use relative names (descriptor.proto: C++ scoping rules), but only
 * to types of the files it depends on; grpcurl and other protoreflect clients therefore fail
 * on "envoy.service.auth.v3.Authorization" ("cannot resolve type *.type.v3.HttpStatus"). Here
 * every type name is resolved to its fully-qualified form (leading '.') and each file lists
 * the files whose types it uses.
 */
export function withResolvableDescriptors(definition: PackageDefinition): PackageDefinition {
  const files = new Map<string, IFileDescriptorProto>();
  for (const entry of Object.values(definition)) {
    const protos = (entry as { fileDescriptorProtos?: Buffer[] }).fileDescriptorProtos ?? [];
    for (const bytes of protos) {
      const file = descriptor.FileDescriptorProto.decode(bytes) as IFileDescriptorProto;
      if (file.name !== undefined && !files.has(file.name)) files.set(file.name, file);
    }
  }

  // protoc names a map field's entry type after the field ("filter_metadata" ->
  // "FilterMetadataEntry") and protoreflect checks it; proto-loader names it after the
  // field alone ("Fields"). Renamed first, so the index below has protoc's names.
  const nameMapEntries = (messages: IDescriptorProto[] | undefined): void => {
    for (const message of messages ?? []) {
      for (const field of message.field ?? []) {
        const entry = message.nestedType?.find(
          (nested) => nested.name === field.typeName && nested.options?.mapEntry === true,
        );
        if (entry === undefined || field.name === undefined) continue;
        const expected = `${field.name
          .split('_')
          .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
          .join('')}Entry`;
        entry.name = expected;
        field.typeName = expected;
      }
      nameMapEntries(message.nestedType);
    }
  };
  for (const file of files.values()) nameMapEntries(file.messageType);

  // Fully-qualified name of every message and enum -> the file that defines it.
  const owner = new Map<string, string>();
  const index = (scope: string, messages: IDescriptorProto[] | undefined, file: string): void => {
    for (const message of messages ?? []) {
      const name = `${scope}.${message.name ?? ''}`;
      owner.set(name, file);
      for (const nested of message.enumType ?? []) owner.set(`${name}.${nested.name ?? ''}`, file);
      index(name, message.nestedType, file);
    }
  };
  for (const [name, file] of files) {
    const scope = file.package === undefined || file.package === '' ? '' : `.${file.package}`;
    index(scope, file.messageType, name);
    for (const enumType of file.enumType ?? []) owner.set(`${scope}.${enumType.name ?? ''}`, name);
  }

  // C++ scoping: the innermost enclosing scope first, then outwards to the root.
  const resolve = (scope: string, name: string): string | undefined => {
    if (name.startsWith('.')) return owner.has(name) ? name : undefined;
    for (let at = scope; ; at = at.slice(0, at.lastIndexOf('.'))) {
      const candidate = `${at}.${name}`;
      if (owner.has(candidate)) return candidate;
      if (at === '') return undefined;
    }
  };

  const encoded = new Map<string, Buffer>();
  for (const [fileName, file] of files) {
    const dependencies = new Set<string>();
    const qualify = (scope: string, name: string): string => {
      const resolved = resolve(scope, name);
      if (resolved === undefined) return name;
      const from = owner.get(resolved);
      if (from !== undefined && from !== fileName) dependencies.add(from);
      return resolved;
    };
    const walk = (scope: string, messages: IDescriptorProto[] | undefined): void => {
      for (const message of messages ?? []) {
        const name = `${scope}.${message.name ?? ''}`;
        for (const field of message.field ?? []) {
          if (field.typeName !== undefined && field.typeName !== '')
            field.typeName = qualify(name, field.typeName);
        }
        walk(name, message.nestedType);
      }
    };
    const scope = file.package === undefined || file.package === '' ? '' : `.${file.package}`;
    walk(scope, file.messageType);
    for (const service of file.service ?? []) {
      for (const method of service.method ?? []) {
        if (method.inputType !== undefined) method.inputType = qualify(scope, method.inputType);
        if (method.outputType !== undefined) method.outputType = qualify(scope, method.outputType);
      }
    }
    file.dependency = [...dependencies].sort();
    const message = descriptor.FileDescriptorProto.fromObject(file);
    encoded.set(fileName, Buffer.from(descriptor.FileDescriptorProto.encode(message).finish()));
  }

  const fixed: PackageDefinition = {};
  for (const [name, entry] of Object.entries(definition)) {
    const protos = (entry as { fileDescriptorProtos?: Buffer[] }).fileDescriptorProtos;
    fixed[name] =
      protos === undefined
        ? entry
        : ({
            ...entry,
            fileDescriptorProtos: protos.map((bytes) => {
              const file = descriptor.FileDescriptorProto.decode(bytes) as IFileDescriptorProto;
              return encoded.get(file.name ?? '') ?? bytes;
            }),
          } as typeof entry);
  }
  return fixed;
}
