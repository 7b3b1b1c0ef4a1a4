import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Server } from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema, FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';

/** The descriptor image that `npm run generate` builds from proto/ with buf. */
const imagePath = fileURLToPath(new URL('../../gen/faas.binpb', import.meta.url));

/**
 * Adds gRPC server reflection (v1 and v1alpha), so grpcurl and other
 * clients can list and call the services without the .proto files. The
 * descriptors come from buf's image, which keeps the original file names
 * and imports, so clients in other languages can resolve them.
 */
export function addReflection(server: Server, services: string[]): void {
  const image = fromBinary(FileDescriptorSetSchema, readFileSync(imagePath));
  const fileDescriptorProtos = image.file.map((file) => Buffer.from(toBinary(FileDescriptorProtoSchema, file)));
  // @grpc/reflection reads `fileDescriptorProtos` from each entry of a package definition.
  const definition = { image: { fileDescriptorProtos } } as unknown as ConstructorParameters<typeof ReflectionService>[0];
  new ReflectionService(definition, { services }).addToServer(server);
}
