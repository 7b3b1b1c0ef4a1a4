/**
 * Makes the certificates for running the platform under compose or on
 * Kubernetes, with the `openssl` command. Files that already exist are kept.
 *
 *   npm run certs:compose                          # into .data/compose-certs
 *   npm run certs:kubernetes -- [--namespace NS]   # into .data/kubernetes-certs
 *
 * A folder given as the last argument replaces the default one.
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureDevCertificates, exists, meshServices, openssl } from '../dev/certificates.js';

const validDays = '825';

/**
 * Host name of the public endpoint under compose. Browsers resolve every
 * `*.localhost` name to the loopback address. Inside the compose network the
 * name is a network alias of the Envoy container. The same URL therefore
 * works for the browser on the host and for the gateway fetching the
 * issuer's keys.
 */
export const composePublicHost = 'faas.localhost';
/** Port of Envoy's TLS listener, published on the host's loopback address. */
export const composePublicPort = 8443;

/** Workloads on Kubernetes that get a certificate, named as their Service is (faas-<name>). */
export const kubernetesWorkloads = ['scheduler', 'gateway', 'worker', 'observer', 'edge', 'keda-client'] as const;

export interface IssuedCertificate {
  certFile: string;
  keyFile: string;
}

/** Creates a P-256 CA in `dir` unless `ca.pem` and `ca-key.pem` exist, and returns the path of `ca.pem`. */
async function ensureCa(dir: string, name: string): Promise<string> {
  const caFile = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca-key.pem');
  if ((await exists(caFile)) && (await exists(caKey))) return caFile;
  await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', caKey], dir);
  await openssl(['req', '-x509', '-new', '-key', caKey, '-sha256', '-days', validDays, '-subj', `/CN=${name}`, '-out', caFile], dir);
  return caFile;
}

/**
 * Issues `<name>.pem` and `<name>-key.pem`, signed by the CA in `dir`, for
 * the DNS names in `dnsNames`, usable for TLS servers and clients. An
 * existing pair is kept.
 */
export async function issueCertificate(dir: string, name: string, dnsNames: string[]): Promise<IssuedCertificate> {
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}-key.pem`);
  if ((await exists(certFile)) && (await exists(keyFile))) return { certFile, keyFile };

  const request = join(dir, `${name}.csr`);
  const extensions = join(dir, `${name}.ext`);
  await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile], dir);
  await openssl(['req', '-new', '-key', keyFile, '-subj', `/CN=${dnsNames[0] ?? name}`, '-out', request], dir);
  const altNames = dnsNames.map((dnsName) => `DNS:${dnsName}`).join(',');
  await writeFile(extensions, `subjectAltName=${altNames}\nextendedKeyUsage=serverAuth,clientAuth\n`);
  await openssl(
    ['x509', '-req', '-in', request, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-days', validDays, '-sha256', '-extfile', extensions, '-out', certFile],
    dir,
  );
  return { certFile, keyFile };
}

/**
 * Makes what compose.yaml mounts from `dir`: the development CA, the mesh
 * certificates of dev/certificates.ts (their names include the compose
 * service names scheduler, gateway, worker and observer) and `envoy.pem`
 * for the public endpoint.
 *
 * compose 1.29 mounts a secret file with its mode on the host and cannot
 * change its owner, and the containers run as users other than the one who
 * made the files. The keys are therefore readable by everyone, and the
 * folder (mode 0700) is what keeps other users of the host out.
 */
export async function makeComposeCertificates(dir: string): Promise<string[]> {
  const mesh = await ensureDevCertificates(dir);
  const envoy = await issueCertificate(dir, 'envoy', [composePublicHost, 'localhost']);
  const mounted = [mesh.caFile, envoy.certFile, envoy.keyFile];
  for (const service of meshServices) mounted.push(mesh.services[service].certFile, mesh.services[service].keyFile);
  for (const file of mounted) await chmod(file, 0o644);
  return mounted;
}

/** DNS names of the Service `faas-<workload>` in `namespace`. */
export function kubernetesDnsNames(workload: string, namespace: string): string[] {
  const service = `faas-${workload}`;
  return [`${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`, service];
}

/**
 * Makes a CA and one certificate per workload for a cluster, named for the
 * Services in `namespace`, and returns the `kubectl` commands that store
 * them as the Secrets the manifests mount.
 */
export async function makeKubernetesCertificates(dir: string, namespace: string): Promise<string[]> {
  const caFile = await ensureCa(dir, 'faas cluster CA');
  const commands: string[] = [];
  for (const workload of kubernetesWorkloads) {
    const issued = await issueCertificate(dir, workload, kubernetesDnsNames(workload, namespace));
    commands.push(
      `kubectl -n ${namespace} create secret generic faas-${workload}-tls ` +
        `--from-file=ca.crt=${caFile} --from-file=tls.crt=${issued.certFile} --from-file=tls.key=${issued.keyFile}`,
    );
  }
  return commands;
}

function usage(): never {
  console.error('usage: tsx deploy/certificates.ts compose [DIR]\n       tsx deploy/certificates.ts kubernetes [--namespace NAMESPACE] [DIR]');
  process.exit(2);
}

async function main(argv: string[]): Promise<void> {
  const repositoryRoot = fileURLToPath(new URL('..', import.meta.url));
  const [target, ...rest] = argv;
  let namespace = 'faas';
  const folders: string[] = [];
  for (let index = 0; index < rest.length; index++) {
    const argument = rest[index]!;
    if (argument === '--namespace') {
      const value = rest[++index];
      if (!value || !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(value)) {
        console.error(`invalid --namespace ${JSON.stringify(value ?? '')}: expected a Kubernetes namespace name such as faas`);
        usage();
      }
      namespace = value;
    } else if (argument.startsWith('-')) {
      usage();
    } else {
      folders.push(argument);
    }
  }
  if (folders.length > 1) usage();

  if (target === 'compose') {
    const dir = resolve(folders[0] ?? join(repositoryRoot, '.data', 'compose-certs'));
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await makeComposeCertificates(dir);
    console.log(`certificates for compose in ${dir}`);
    if (folders[0]) console.log(`set FAAS_CERTS=${dir} for docker-compose, which reads .data/compose-certs by default`);
  } else if (target === 'kubernetes') {
    const dir = resolve(folders[0] ?? join(repositoryRoot, '.data', 'kubernetes-certs'));
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const commands = await makeKubernetesCertificates(dir, namespace);
    console.log(`certificates for namespace ${namespace} in ${dir}; store them with:`);
    for (const command of commands) console.log(command);
  } else {
    usage();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main(process.argv.slice(2));
}
