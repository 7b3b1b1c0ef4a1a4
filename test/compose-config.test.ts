import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, posix } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { identityDefaults, keycloakPaths } from '../common/identity-defaults.js';
import { findCommand } from '../dev/system-packages.js';
import {
  composePublicHost,
  composePublicPort,
  kubernetesDnsNames,
  kubernetesWorkloads,
  makeComposeCertificates,
} from '../deploy/certificates.js';
import { readEdgeConfig } from '../services/edge/config.js';
import { readGatewayConfig } from '../services/gateway/config.js';
import { readObserverConfig } from '../services/observer/config.js';
import { readSchedulerConfig } from '../services/scheduler/config.js';
import { readWorkerConfig } from '../services/worker/config.js';
import {
  dockerfileCommand,
  dockerfileEntry,
  environmentOf,
  kubernetesFolder,
  readComposeFile,
  readKustomization,
  readManifest,
  readRepositoryFile,
  repositoryFileExists,
  repositoryRoot,
  splitAddress,
  variablesReadBy,
  type ComposeService,
  type Container,
  type Environment,
  type KubernetesObject,
} from './deploy-files.js';

// Checks that compose.yaml, the Dockerfiles and the Kubernetes manifests
// agree with envoy/envoy.yaml, the Keycloak realm and the settings that each
// service reads. No container engine or cluster runs here, so the checks read
// the files, and pass each service's environment through its own config
// reader.

const run = promisify(execFile);

const compose = readComposeFile();
const envoy = parseYaml(readRepositoryFile('envoy/envoy.yaml')) as EnvoyBootstrap;
const realm = JSON.parse(readRepositoryFile('keycloak/realm-faas.json')) as {
  realm: string;
  clients: { clientId: string; redirectUris?: string[]; webOrigins?: string[] }[];
};

interface EnvoyBootstrap {
  static_resources: {
    listeners: {
      address: { socket_address: { port_value: number } };
      filter_chains: {
        transport_socket?: {
          typed_config: {
            common_tls_context?: { tls_certificates?: { certificate_chain: { filename: string }; private_key: { filename: string } }[] };
          };
        };
        filters: { typed_config: EnvoyConnectionManager }[];
      }[];
    }[];
    clusters: {
      name: string;
      load_assignment: { endpoints: { lb_endpoints: { endpoint: { address: { socket_address: { address: string; port_value: number } } } }[] }[] };
    }[];
  };
}

interface EnvoyConnectionManager {
  route_config: {
    virtual_hosts: {
      routes: { match: { prefix?: string; path?: string; headers?: unknown[] }; route: { cluster: string } }[];
      typed_per_filter_config?: Record<string, { allow_origin_string_match?: { exact?: string }[] }>;
    }[];
  };
  http_filters: { name: string; typed_config: { providers?: Record<string, { issuer: string; audiences: string[] }> } }[];
}

/** Node services that compose builds, by compose service name. */
const nodeServices = ['scheduler', 'gateway', 'worker', 'observer', 'edge'];
/** Prefixes of the variables that the project's services define. Other names, such as NODE_EXTRA_CA_CERTS, belong to the platform. */
const projectVariable = /^(FAAS|GATEWAY|SCHEDULER|WORKER|OBSERVER|NATS|OTEL|POD)_/;
/** Port of Keycloak's HTTP listener in its container image. */
const keycloakHttpPort = 8080;

const configReaders: Record<string, (env: Environment) => unknown> = {
  scheduler: readSchedulerConfig,
  gateway: readGatewayConfig,
  worker: readWorkerConfig,
  observer: readObserverConfig,
  edge: readEdgeConfig,
};

function service(name: string): ComposeService {
  const found = compose.services[name];
  assert.ok(found, `compose.yaml has no service ${name}`);
  return found;
}

function composeEnv(name: string): Environment {
  return environmentOf(service(name));
}

function composeIssuer(): string {
  const hostname = composeEnv('keycloak')['KC_HOSTNAME'];
  assert.ok(hostname, 'keycloak has no KC_HOSTNAME');
  return `${hostname.replace(/\/$/, '')}${keycloakPaths(realm.realm).issuer}`;
}

function connectionManager(): EnvoyConnectionManager {
  const manager = envoy.static_resources.listeners[0]?.filter_chains[0]?.filters[0]?.typed_config;
  assert.ok(manager, 'envoy.yaml has no connection manager on its first listener');
  return manager;
}

function envoyIssuer(): { issuer: string; audiences: string[] } {
  const jwt = connectionManager().http_filters.find((filter) => filter.name === 'envoy.filters.http.jwt_authn');
  const provider = jwt?.typed_config.providers?.['keycloak'];
  assert.ok(provider, 'envoy.yaml has no keycloak jwt provider');
  return provider;
}

function envoyCluster(name: string): { address: string; port_value: number } {
  const cluster = envoy.static_resources.clusters.find((candidate) => candidate.name === name);
  assert.ok(cluster, `envoy.yaml has no cluster ${name}`);
  const address = cluster.load_assignment.endpoints[0]?.lb_endpoints[0]?.endpoint.address.socket_address;
  assert.ok(address, `envoy cluster ${name} has no endpoint`);
  return address;
}

/** Returns the TypeScript entry of a compose service built from a Dockerfile. */
function entryOf(name: string): string {
  const dockerfile = service(name).build?.dockerfile;
  assert.ok(dockerfile, `compose service ${name} is not built from a Dockerfile`);
  return dockerfileEntry(dockerfile);
}

/** Returns the names a service sets that its code never reads. */
function unknownVariables(names: string[], entry: string): string[] {
  const known = variablesReadBy(entry);
  return names.filter((name) => projectVariable.test(name) && !known.has(name));
}

/** Returns `major.minor` of an image tag such as `nats:2.12-alpine`. */
function imageVersion(image: string): [number, number] {
  const match = /:v?(\d+)\.(\d+)/.exec(image);
  assert.ok(match, `image ${image} has no version tag`);
  return [Number(match[1]), Number(match[2])];
}

function secretTargets(name: string): Map<string, string> {
  const targets = new Map<string, string>();
  for (const entry of service(name).secrets ?? []) {
    const mount = typeof entry === 'string' ? { source: entry } : entry;
    const target = mount.target ?? mount.source;
    targets.set(target.startsWith('/') ? target : posix.join('/run/secrets', target), mount.source);
  }
  return targets;
}

describe('compose and Kubernetes files', () => {
  describe('compose.yaml', () => {
    // dev/check-system.ts makes sure docker-compose is installed before the tests run.
    it('docker-compose accepts the file', async () => {
      assert.ok(findCommand('docker-compose'), 'docker-compose is missing; install the Debian package docker-compose');
      const { stderr } = await run('docker-compose', ['-f', 'compose.yaml', 'config', '-q'], { cwd: repositoryRoot });
      assert.doesNotMatch(stderr, /ERROR/, `docker-compose config reported: ${stderr}`);
    });

    it('every service is present', () => {
      const expected = ['nats', 'keycloak', 'envoy', ...nodeServices, 'otel-collector', 'jaeger'];
      assert.deepEqual(Object.keys(compose.services).sort(), expected.sort());
    });

    it('NATS is 2.10 or later with synced JetStream', () => {
      const nats = service('nats');
      const [major, minor] = imageVersion(nats.image ?? '');
      assert.ok(major > 2 || (major === 2 && minor >= 10), `NATS image ${nats.image} is older than 2.10, which sync_interval needs`);

      const configIndex = nats.command?.indexOf('--config') ?? -1;
      const configPath = nats.command?.[configIndex + 1];
      assert.ok(configIndex >= 0, 'nats is not started with --config');
      assert.ok(configPath, 'nats --config has no file');
      const mount = nats.volumes?.find((volume) => volume.split(':')[1] === configPath);
      assert.ok(mount, `no volume mounts ${configPath}`);
      const config = readRepositoryFile(mount.split(':')[0]!.replace(/^\.\//, ''));
      assert.match(config, /jetstream\s*\{[^}]*sync_interval:\s*always/, 'the NATS config does not set sync_interval: always');

      const storeDir = /store_dir:\s*(\S+)/.exec(config)?.[1];
      assert.ok(storeDir, 'the NATS config sets no store_dir');
      const dataVolume = nats.volumes?.find((volume) => storeDir.startsWith(`${volume.split(':')[1]}/`));
      assert.ok(dataVolume, `no volume holds the JetStream store ${storeDir}`);
      assert.ok(compose.volumes, 'compose.yaml declares no named volumes');
      assert.ok(dataVolume.split(':')[0]! in compose.volumes, `${dataVolume} is not a named volume`);
    });

    it('issuer agrees across services', () => {
      const issuer = composeIssuer();
      assert.equal(composeEnv('gateway')['FAAS_OIDC_ISSUER'], issuer, 'the gateway expects another issuer than Keycloak puts in tokens');
      assert.equal(composeEnv('edge')['FAAS_OIDC_ISSUER'], issuer, 'the page signs in with another issuer than Keycloak uses');
      assert.equal(envoyIssuer().issuer, issuer, 'envoy.yaml checks another issuer than Keycloak puts in tokens');

      const keycloak = service('keycloak');
      assert.ok(keycloak.command?.includes('start-dev'), 'keycloak does not run start-dev');
      assert.ok(keycloak.command?.includes('--import-realm'), 'keycloak does not import the realm');
      assert.ok(
        keycloak.volumes?.some((volume) => volume.startsWith('./keycloak/realm-faas.json:/opt/keycloak/data/import/')),
        'the realm file is not mounted into /opt/keycloak/data/import',
      );
    });

    it('issuer URL reaches Envoy everywhere', () => {
      const issuer = new URL(composeIssuer());
      const envoyService = service('envoy');
      assert.equal(issuer.protocol, 'https:', 'the issuer is not https, which the gateway requires off loopback');
      assert.equal(issuer.hostname, composePublicHost, 'the issuer host is not the one the compose certificate names');
      assert.equal(Number(issuer.port), composePublicPort, 'the issuer port is not the public port');
      assert.ok(
        envoyService.networks?.['default']?.aliases?.includes(issuer.hostname),
        `envoy has no network alias ${issuer.hostname}, so the gateway cannot fetch the issuer's keys`,
      );
      assert.ok(
        envoyService.ports?.includes(`127.0.0.1:${issuer.port}:${issuer.port}`),
        `envoy does not publish ${issuer.port} on the host's loopback address`,
      );
      const listenerPorts = envoy.static_resources.listeners.map((listener) => listener.address.socket_address.port_value);
      assert.ok(listenerPorts.includes(Number(issuer.port)), `envoy.yaml has no listener on ${issuer.port}`);
    });

    it('gateway trusts the compose CA', () => {
      const env = composeEnv('gateway');
      const targets = secretTargets('gateway');
      assert.equal(targets.get(env['NODE_EXTRA_CA_CERTS'] ?? ''), 'ca', 'NODE_EXTRA_CA_CERTS is not the mounted CA');
    });

    it('audience and web client match the realm', () => {
      const gateway = readGatewayConfig(composeEnv('gateway'));
      assert.equal(gateway.auth.audience, identityDefaults.audience, 'the gateway expects another audience than the realm adds');
      assert.ok(envoyIssuer().audiences.includes(gateway.auth.audience), 'envoy.yaml checks another audience');

      const edge = readEdgeConfig(composeEnv('edge'));
      const client = realm.clients.find((candidate) => candidate.clientId === edge.page.clientId);
      assert.ok(client, `the realm has no client ${edge.page.clientId}, which the page signs in with`);
      const origin = new URL(composeIssuer()).origin;
      assert.ok(client.redirectUris?.includes(`${origin}/*`), `${client.clientId} lacks redirect URI ${origin}/*`);
      assert.ok(client.webOrigins?.includes(origin), `${client.clientId} lacks web origin ${origin}`);
    });

    it('Envoy routes match the compose services', () => {
      const gateway = envoyCluster('gateway');
      assert.ok(gateway.address in compose.services, `envoy's gateway cluster names ${gateway.address}, not a compose service`);
      assert.equal(gateway.port_value, splitAddress(readGatewayConfig(composeEnv(gateway.address)).listenAddress).port);

      const edge = envoyCluster('edge');
      assert.ok(edge.address in compose.services, `envoy's edge cluster names ${edge.address}, not a compose service`);
      assert.equal(edge.port_value, splitAddress(readEdgeConfig(composeEnv(edge.address)).listenAddress).port);
      assert.equal(readEdgeConfig(composeEnv(edge.address)).grpcWeb, false, 'the edge translates grpc-web although Envoy does');

      const keycloak = envoyCluster('keycloak');
      assert.ok(keycloak.address in compose.services, `envoy's keycloak cluster names ${keycloak.address}, not a compose service`);
      assert.equal(keycloak.port_value, keycloakHttpPort);

      const routes = connectionManager().route_config.virtual_hosts[0]!.routes;
      const last = routes.at(-1);
      assert.equal(last?.match.prefix, '/', 'the last route does not match every path');
      assert.equal(last?.route.cluster, 'edge', 'the page is not served by the edge');
      assert.equal(last?.match.headers, undefined, 'the page route matches on headers');
      const keycloakRoute = routes.find((route) => route.match.prefix === keycloakPaths().issuer.replace(/[^/]+$/, ''));
      assert.equal(keycloakRoute?.route.cluster, 'keycloak', 'the issuer path /realms/ does not go to keycloak');
    });

    it('Envoy reads TLS files that are mounted', () => {
      const certificates = envoy.static_resources.listeners[0]?.filter_chains[0]?.transport_socket?.typed_config.common_tls_context?.tls_certificates;
      assert.ok(certificates?.length, 'the listener has no certificate');
      const targets = secretTargets('envoy');
      for (const certificate of certificates) {
        assert.ok(targets.has(certificate.certificate_chain.filename), `${certificate.certificate_chain.filename} is not mounted`);
        assert.ok(targets.has(certificate.private_key.filename), `${certificate.private_key.filename} is not mounted`);
      }
      assert.ok(service('envoy').volumes?.includes('./envoy/envoy.yaml:/etc/envoy/envoy.yaml:ro'), 'envoy.yaml is not mounted read-only');
    });

    for (const name of nodeServices) {
      it(`${name} settings pass its config`, () => {
        const env = composeEnv(name);
        assert.doesNotThrow(() => configReaders[name]!(env), `compose settings of ${name} fail its config reader`);
        assert.deepEqual(unknownVariables(Object.keys(env), entryOf(name)), [], `compose sets variables that ${name} never reads`);
      });

      it(`${name} has telemetry and a health check`, () => {
        const env = composeEnv(name);
        assert.equal(env['OTEL_SERVICE_NAME'], `faas-${name}`);
        assert.equal(env['FAAS_METRICS_ADDRESS'], '0.0.0.0:9464');
        const collector = new URL(env['OTEL_EXPORTER_OTLP_ENDPOINT'] ?? '');
        assert.ok(collector.hostname in compose.services, `OTEL_EXPORTER_OTLP_ENDPOINT names ${collector.hostname}, not a compose service`);

        const probe = service(name).healthcheck?.test.join(' ') ?? '';
        const url = /http:\/\/127\.0\.0\.1:(\d+)\/healthz/.exec(probe);
        assert.ok(url, `${name} has no /healthz health check`);
        const servedPorts = [splitAddress(env['FAAS_METRICS_ADDRESS']).port];
        if (name === 'edge') servedPorts.push(splitAddress(env['FAAS_EDGE_ADDRESS'] ?? '').port);
        assert.ok(servedPorts.includes(Number(url[1])), `the health check of ${name} asks port ${url[1]}, which it does not serve`);
      });
    }

    it('mesh TLS files are mounted secrets', () => {
      for (const name of nodeServices) {
        const env = composeEnv(name);
        const targets = secretTargets(name);
        for (const variable of ['FAAS_TLS_CA', 'FAAS_TLS_CERT', 'FAAS_TLS_KEY']) {
          if (env[variable] === undefined) continue;
          assert.ok(targets.has(env[variable]), `${name}: ${variable}=${env[variable]} is not a mounted secret`);
        }
      }
    });

    it('health conditions target health checks', () => {
      for (const [name, definition] of Object.entries(compose.services)) {
        for (const [dependency, { condition }] of Object.entries(definition.depends_on ?? {})) {
          assert.ok(dependency in compose.services, `${name} depends on unknown service ${dependency}`);
          if (condition === 'service_healthy') {
            assert.ok(compose.services[dependency]!.healthcheck, `${name} waits for ${dependency} to be healthy, which has no health check`);
          }
        }
      }
      assert.equal(service('scheduler').depends_on?.['nats']?.condition, 'service_healthy', 'the scheduler may start before NATS');
      assert.equal(service('gateway').depends_on?.['scheduler']?.condition, 'service_healthy', 'the gateway may start before the scheduler');
      assert.equal(service('worker').depends_on?.['scheduler']?.condition, 'service_healthy', 'workers may start before the scheduler');
    });

    it('workers run as several privileged replicas', () => {
      const worker = service('worker');
      assert.ok((worker.deploy?.replicas ?? worker.scale ?? 1) >= 2, 'compose starts fewer than two workers');
      assert.equal(worker.privileged, true, 'the worker is not privileged, which its sandbox needs');
    });

    it('ports are published on loopback only', () => {
      for (const [name, definition] of Object.entries(compose.services)) {
        for (const port of definition.ports ?? []) {
          assert.match(port, /^127\.0\.0\.1:/, `${name} publishes ${port} beyond the host's loopback address`);
        }
      }
    });

    it('collector sends traces to Jaeger', () => {
      const collector = service('otel-collector');
      const configPath = collector.command?.find((argument) => argument.startsWith('--config='))?.slice('--config='.length);
      const mount = collector.volumes?.find((volume) => volume.split(':')[1] === configPath);
      assert.ok(mount, `the collector's config ${configPath} is not mounted`);
      const config = parseYaml(readRepositoryFile(mount.split(':')[0]!.replace(/^\.\//, ''))) as {
        receivers: { otlp: { protocols: { http: { endpoint: string } } } };
        exporters: Record<string, { endpoint: string }>;
        service: { pipelines: { traces: { receivers: string[]; exporters: string[] } } };
      };
      const otlpHttpPort = splitAddress(config.receivers.otlp.protocols.http.endpoint).port;
      assert.equal(new URL(composeEnv('gateway')['OTEL_EXPORTER_OTLP_ENDPOINT']!).port, String(otlpHttpPort));
      const exporter = config.service.pipelines.traces.exporters[0]!;
      assert.equal(splitAddress(config.exporters[exporter]!.endpoint).host, 'jaeger', 'traces do not go to the jaeger service');
      assert.ok(service('jaeger').ports?.some((port) => port.endsWith(':16686')), 'the Jaeger UI port is not published');
    });

    it('compose certificates fit the files mounted', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'faas-compose-certs-'));
      try {
        await makeComposeCertificates(dir);
        const madeFiles = new Set(await readdir(dir));
        for (const [name, secret] of Object.entries(compose.secrets ?? {})) {
          assert.ok(madeFiles.has(basename(secret.file)), `secret ${name} reads ${basename(secret.file)}, which npm run certs:compose does not make`);
        }

        const { stdout } = await run('openssl', ['x509', '-in', join(dir, 'envoy.pem'), '-noout', '-ext', 'subjectAltName']);
        assert.ok(stdout.includes(`DNS:${composePublicHost}`), `the envoy certificate does not name ${composePublicHost}`);

        // Services dial the scheduler and the observer by their compose names.
        for (const name of ['scheduler', 'observer']) {
          const source = secretTargets(name).get(composeEnv(name)['FAAS_TLS_CERT']!);
          const file = basename(compose.secrets![source!]!.file);
          const names = await run('openssl', ['x509', '-in', join(dir, file), '-noout', '-ext', 'subjectAltName']);
          assert.ok(names.stdout.includes(`DNS:${name},`) || names.stdout.includes(`DNS:${name}\n`), `${file} does not name ${name}`);
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });

  describe('Dockerfiles', () => {
    for (const name of nodeServices) {
      it(`${name} image builds and starts the service`, () => {
        const dockerfile = service(name).build?.dockerfile ?? '';
        assert.ok(repositoryFileExists(dockerfile), `${dockerfile} is missing`);
        assert.ok(repositoryFileExists(entryOf(name)), `${entryOf(name)} is missing`);
        assert.equal(service(name).image, `faas-${name}`, `compose tags the ${name} image with another name`);

        const text = readRepositoryFile(dockerfile);
        assert.match(text, /RUN npm ci\b/, `${dockerfile} does not run npm ci`);
        assert.match(text, /npm run generate/, `${dockerfile} does not generate the protobuf code`);
        assert.match(text, /npm prune --omit=dev/, `${dockerfile} keeps the development packages`);
        assert.ok((text.match(/^FROM /gm) ?? []).length >= 2, `${dockerfile} has a single stage`);
        assert.match(text, /npm run build\b/, `${dockerfile} does not compile the services`);
        assert.match(text, /COPY --from=build \/app\/dist \.\/dist/, `${dockerfile} does not ship the compiled services`);
        assert.equal(dockerfileCommand(dockerfile)[0], 'node');
        assert.ok(!dockerfileCommand(dockerfile).includes('tsx'), `${dockerfile} runs TypeScript through tsx`);
        if (name === 'worker') {
          assert.doesNotMatch(text, /^USER /m, 'the worker image must run as root for its sandbox');
        } else {
          assert.match(text, /^USER node$/m, `${dockerfile} does not drop root`);
        }
        if (name === 'edge') assert.match(text, /npm run build:web/, 'the edge image does not build the page');
      });
    }
  });

  describe('deploy/kubernetes', () => {
    const kustomization = readKustomization();
    const objects: KubernetesObject[] = kustomization.resources.flatMap((file) => readManifest(file));
    const byKind = (kind: string) => objects.filter((object) => object.kind === kind);
    const workloads = [...byKind('Deployment'), ...byKind('StatefulSet')];

    function find(kind: string, name: string): KubernetesObject {
      const found = objects.find((object) => object.kind === kind && object.metadata.name === name);
      assert.ok(found, `no ${kind} ${name} in the kustomization`);
      return found;
    }

    /** Returns the values a container's env sets, with ConfigMap references resolved. */
    function containerEnv(container: Container): Environment {
      const env: Environment = {};
      for (const variable of container.env ?? []) {
        const reference = variable.valueFrom?.configMapKeyRef;
        if (reference) env[variable.name] = find('ConfigMap', reference.name).data?.[reference.key] ?? '';
        else env[variable.name] = variable.value ?? '';
      }
      return env;
    }

    it('kustomization lists every manifest', async () => {
      const files = (await readdir(join(repositoryRoot, kubernetesFolder))).filter((file) => file.endsWith('.yaml') && file !== 'kustomization.yaml');
      assert.deepEqual([...kustomization.resources].sort(), files.sort());
      for (const object of objects) {
        if (object.kind !== 'Namespace') assert.equal(object.metadata.namespace, kustomization.namespace, `${object.kind} ${object.metadata.name} is in another namespace`);
      }
    });

    it('images are the compose images', () => {
      const built = Object.values(compose.services).flatMap((definition) => (definition.build ? [definition.image] : []));
      const mapped = new Set(kustomization.images?.map((image) => image.name));
      for (const workload of workloads) {
        for (const container of workload.spec!.template!.spec.containers) {
          if (container.image.startsWith('nats:')) {
            assert.equal(container.image, service('nats').image, 'Kubernetes and compose run different NATS versions');
            continue;
          }
          assert.ok(built.includes(container.image), `${workload.metadata.name} runs ${container.image}, which compose does not build`);
          assert.ok(mapped.has(container.image), `kustomization.yaml sets no registry for ${container.image}`);
          assert.equal(container.command, undefined, `${workload.metadata.name} overrides the image's command`);
        }
      }
    });

    for (const name of nodeServices) {
      it(`${name} manifest settings are known`, () => {
        const workload = find('Deployment', `faas-${name}`);
        const container = workload.spec!.template!.spec.containers[0]!;
        const env = containerEnv(container);
        assert.deepEqual(unknownVariables(Object.keys(env), entryOf(name)), [], `faas-${name} sets variables that ${name} never reads`);

        const ports = new Map((container.ports ?? []).map((port) => [port.name, port.containerPort]));
        assert.equal(ports.get('metrics'), splitAddress(env['FAAS_METRICS_ADDRESS'] ?? '').port, `faas-${name} exposes another metrics port`);
        const listen = env['GATEWAY_ADDRESS'] ?? env['SCHEDULER_ADDRESS'] ?? env['OBSERVER_ADDRESS'] ?? env['FAAS_EDGE_ADDRESS'];
        if (listen) {
          const served = [...ports.values()];
          assert.ok(served.includes(splitAddress(listen).port), `faas-${name} listens on ${listen} but exposes ${served.join(', ')}`);
        }
        const readinessPort = container.readinessProbe?.httpGet?.port;
        const livenessPort = container.livenessProbe?.httpGet?.port ?? container.livenessProbe?.tcpSocket?.port;
        assert.ok(readinessPort !== undefined, `faas-${name} lacks an HTTP readiness probe`);
        assert.ok(livenessPort !== undefined, `faas-${name} lacks a liveness probe`);
        for (const port of [readinessPort, livenessPort]) {
          assert.ok(ports.has(String(port)), `faas-${name} probes port ${port}, which it does not expose`);
        }

        const privileged = container.securityContext?.privileged === true;
        assert.equal(privileged, name === 'worker', `faas-${name} privileged is ${privileged}`);
        if (name !== 'worker') assert.equal(workload.spec!.template!.spec.securityContext?.runAsNonRoot, true, `faas-${name} may run as root`);
      });
    }

    it('addresses name Services and ports', () => {
      const services = byKind('Service');
      const addresses: [string, string][] = [];
      for (const workload of workloads) {
        for (const container of workload.spec!.template!.spec.containers) {
          for (const [name, value] of Object.entries(containerEnv(container))) {
            if (/\.svc:\d+$/.test(value)) addresses.push([`${workload.metadata.name} ${name}`, value.replace(/^nats:\/\//, '')]);
          }
        }
      }
      for (const trigger of find('ScaledObject', 'faas-worker').spec!.triggers ?? []) {
        addresses.push(['ScaledObject scalerAddress', trigger.metadata['scalerAddress']!]);
      }
      assert.ok(addresses.length >= 8, 'too few service addresses found in the manifests');
      for (const [where, address] of addresses) {
        const { host, port } = splitAddress(address);
        const [serviceName, namespace] = host.split('.');
        const target = services.find((candidate) => candidate.metadata.name === serviceName && candidate.metadata.namespace === namespace);
        assert.ok(target, `${where} dials ${address}, but no Service ${serviceName} exists in ${namespace}`);
        assert.ok(target.spec?.ports?.some((candidate) => candidate.port === port), `${where} dials port ${port}, which Service ${serviceName} lacks`);
      }
    });

    it('certificates name what clients dial', () => {
      const secrets = new Set(kubernetesWorkloads.map((workload) => `faas-${workload}-tls`));
      for (const workload of workloads) {
        for (const volume of workload.spec!.template!.spec.volumes ?? []) {
          if (volume.secret) assert.ok(secrets.has(volume.secret.secretName), `${volume.secret.secretName} is not made by npm run certs:kubernetes`);
        }
      }
      for (const reference of find('TriggerAuthentication', 'faas-observer-client').spec!.secretTargetRef ?? []) {
        assert.ok(secrets.has(reference.name), `${reference.name} is not made by npm run certs:kubernetes`);
      }
      const scaler = splitAddress(find('ScaledObject', 'faas-worker').spec!.triggers![0]!.metadata['scalerAddress']!).host;
      assert.ok(kubernetesDnsNames('observer', 'faas').includes(scaler), `the observer certificate does not name ${scaler}, which KEDA dials`);
    });

    it('NATS is a synced three-server cluster', () => {
      const statefulSet = find('StatefulSet', 'faas-nats');
      assert.equal(statefulSet.spec?.replicas, 3);
      const headless = find('Service', statefulSet.spec!.serviceName!);
      assert.equal(headless.spec?.clusterIP, 'None', `${headless.metadata.name} is not headless`);

      const config = find('ConfigMap', 'faas-nats-config').data?.['nats.conf'] ?? '';
      assert.match(config, /jetstream\s*\{[^}]*sync_interval:\s*always/, 'the NATS config does not set sync_interval: always');
      const clusterPort = headless.spec?.ports?.find((port) => port.name === 'cluster')?.port;
      for (let index = 0; index < 3; index++) {
        const route = `nats://faas-nats-${index}.${headless.metadata.name}.${headless.metadata.namespace}.svc:${clusterPort}`;
        assert.ok(config.includes(route), `the NATS config has no route ${route}`);
      }
    });

    it('KEDA scales the worker Deployment', () => {
      const scaledObject = find('ScaledObject', 'faas-worker');
      const target = find('Deployment', scaledObject.spec!.scaleTargetRef!.name);
      assert.equal(target.spec?.replicas, undefined, 'the worker Deployment sets replicas, which KEDA owns');
      assert.equal(scaledObject.spec!.triggers![0]!.type, 'external');
      const workerSlots = containerEnv(target.spec!.template!.spec.containers[0]!)['WORKER_SLOTS'];
      assert.equal(scaledObject.spec!.triggers![0]!.metadata['slotsPerWorker'], workerSlots, 'slotsPerWorker differs from WORKER_SLOTS');
    });
  });
});
