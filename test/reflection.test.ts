import assert from 'node:assert/strict';
import { credentials, makeGenericClientConstructor, type ClientDuplexStream } from '@grpc/grpc-js';
import { fromBinary } from '@bufbuild/protobuf';
import { BinaryReader, BinaryWriter } from '@bufbuild/protobuf/wire';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { Mesh } from './harness.js';

/**
 * Speaks grpc.reflection.v1 by hand, as an independent client would, with
 * no token: list_services (field 7) and file_containing_symbol (field 4).
 */
async function reflect(address: string, request: { listServices?: true; symbol?: string }): Promise<Uint8Array> {
  const Reflection = makeGenericClientConstructor(
    {
      info: {
        path: '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
        requestStream: true,
        responseStream: true,
        requestSerialize: (value: Buffer) => value,
        requestDeserialize: (value: Buffer) => value,
        responseSerialize: (value: Buffer) => value,
        responseDeserialize: (value: Buffer) => value,
      },
    },
    'ServerReflection',
  );
  const client = new Reflection(address, credentials.createInsecure()) as unknown as {
    info(): ClientDuplexStream<Buffer, Buffer>;
    close(): void;
  };
  const writer = new BinaryWriter();
  if (request.listServices) writer.tag(7, 2).string('');
  if (request.symbol) writer.tag(4, 2).string(request.symbol);
  const call = client.info();
  const response = new Promise<Buffer>((resolve, reject) => {
    call.once('data', resolve);
    call.once('error', reject);
  });
  call.write(Buffer.from(writer.finish()));
  call.end();
  try {
    return await response;
  } finally {
    client.close();
  }
}

/** Returns the length-delimited values of `field` in a message. */
function fieldValues(message: Uint8Array, field: number): Uint8Array[] {
  const reader = new BinaryReader(message);
  const values: Uint8Array[] = [];
  while (reader.pos < reader.len) {
    const [number, wireType] = reader.tag();
    if (number === field && wireType === 2) values.push(reader.bytes());
    else reader.skip(wireType);
  }
  return values;
}

describe('gateway reflection', function () {
  this.timeout(30_000);
  let mesh: Mesh;

  before(async () => {
    mesh = await Mesh.start({ workers: 0 });
  });
  after(async () => {
    await mesh?.stop();
  });

  it('lists the services without a token', async () => {
    const response = await reflect(mesh.gateway.address, { listServices: true });
    const [list] = fieldValues(response, 6);
    assert.ok(list, 'no list_services_response');
    const names = fieldValues(list, 1).map((service) => new TextDecoder().decode(fieldValues(service, 1)[0]));
    assert.ok(names.includes('faas.v1.JobService'), names.join(', '));
    assert.ok(names.includes('grpc.health.v1.Health'), names.join(', '));
  });

  it('describes the job service with its original files', async () => {
    const response = await reflect(mesh.gateway.address, { symbol: 'faas.v1.JobService' });
    const [files] = fieldValues(response, 4);
    assert.ok(files, 'no file_descriptor_response');
    const descriptors = fieldValues(files, 1).map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes));
    const service = descriptors.find((file) => file.name === 'faas/v1/job_service.proto');
    assert.ok(service, descriptors.map((file) => file.name).join(', '));
    assert.ok(service.dependency.includes('faas/v1/job.proto'));
    assert.deepEqual(
      service.service[0].method.map((method) => method.name),
      ['Submit', 'SubmitBatch', 'Status', 'Result', 'List', 'Watch', 'Logs', 'Cancel'],
    );
  });
});
