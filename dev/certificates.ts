/**
 * Makes the development CA and a certificate for each service, for mutual
 * TLS inside the mesh. Files that already exist are kept. Run directly
 * (`npm run certs [DIR]`) or through the local stack, which calls it on
 * first start. Uses the `openssl` command.
 */
import { execFile } from 'node:child_process';
import { access, mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const meshServices = ['scheduler', 'gateway', 'worker', 'observer'] as const;
export type MeshService = (typeof meshServices)[number];

export interface ServiceCertificate {
  certFile: string;
  keyFile: string;
}

export interface DevCertificates {
  caFile: string;
  services: Record<MeshService, ServiceCertificate>;
  /** Environment variables that give a service its mesh TLS files. */
  env(service: MeshService): Record<string, string>;
}

const validDays = '3650';

/** Tells whether `path` exists. */
export async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** Runs openssl with `args` in `cwd`. */
export async function openssl(args: string[], cwd: string): Promise<void> {
  await run('openssl', args, { cwd });
}

/** Creates what is missing under `dir` and returns the file paths. */
export async function ensureDevCertificates(dir: string): Promise<DevCertificates> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const caFile = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca-key.pem');
  if (!(await exists(caFile)) || !(await exists(caKey))) {
    await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', caKey], dir);
    await openssl(['req', '-x509', '-new', '-key', caKey, '-sha256', '-days', validDays, '-subj', '/CN=faas development CA', '-out', caFile], dir);
  }

  const services = {} as Record<MeshService, ServiceCertificate>;
  for (const service of meshServices) {
    const certFile = join(dir, `${service}.pem`);
    const keyFile = join(dir, `${service}-key.pem`);
    services[service] = { certFile, keyFile };
    if ((await exists(certFile)) && (await exists(keyFile))) continue;
    const request = join(dir, `${service}.csr`);
    const extensions = join(dir, `${service}.ext`);
    await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile], dir);
    await openssl(['req', '-new', '-key', keyFile, '-subj', `/CN=${service}`, '-out', request], dir);
    // Every service is a server to some and a client to others.
    await writeFile(
      extensions,
      `subjectAltName=DNS:localhost,DNS:${service},IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n`,
    );
    await openssl(
      ['x509', '-req', '-in', request, '-CA', caFile, '-CAkey', caKey, '-CAcreateserial', '-days', validDays, '-sha256', '-extfile', extensions, '-out', certFile],
      dir,
    );
  }
  return {
    caFile,
    services,
    env: (service) => ({
      FAAS_TLS_CA: caFile,
      FAAS_TLS_CERT: services[service].certFile,
      FAAS_TLS_KEY: services[service].keyFile,
    }),
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = resolve(process.argv[2] ?? join(fileURLToPath(new URL('..', import.meta.url)), '.data', 'certs'));
  const made = await ensureDevCertificates(dir);
  console.log(`development CA: ${made.caFile}`);
  for (const service of meshServices) console.log(`${service.padEnd(9)} ${made.services[service].certFile}`);
}
