import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { parseDurationMs } from '../common/config.js';
import { identityDefaults, keycloakPaths } from '../common/identity-defaults.js';
import { readGatewayConfig } from '../services/gateway/config.js';

// Checks that the deployment files for Envoy and Keycloak agree with each
// other and with the names the TypeScript services use. Neither program can be
// installed here, so these checks read the files instead of running them.

const repositoryRoot = fileURLToPath(new URL('..', import.meta.url));

function readRepositoryFile(path: string): string {
  return readFileSync(`${repositoryRoot}${path}`, 'utf8');
}

// Only the parts of the Envoy v3 bootstrap that the checks read.
interface SocketAddress {
  address: string;
  port_value: number;
}

interface Cluster {
  name: string;
  type?: string;
  typed_extension_protocol_options?: Record<
    string,
    { '@type': string; explicit_http_config?: { http2_protocol_options?: object; http_protocol_options?: object } }
  >;
  load_assignment: { endpoints: { lb_endpoints: { endpoint: { address: { socket_address: SocketAddress } } }[] }[] };
  health_checks?: { grpc_health_check?: { service_name?: string } }[];
}

interface RouteMatch {
  path?: string;
  prefix?: string;
}

interface Route {
  match: RouteMatch;
  route?: { cluster?: string; timeout?: string; idle_timeout?: string };
}

interface CorsPolicy {
  allow_headers?: string;
  expose_headers?: string;
}

interface VirtualHost {
  name: string;
  routes: Route[];
  typed_per_filter_config?: Record<string, CorsPolicy & { '@type': string }>;
}

interface JwtProvider {
  issuer?: string;
  audiences?: string[];
  remote_jwks?: { http_uri?: { uri?: string; cluster?: string; timeout?: string }; cache_duration?: string };
  from_headers?: { name: string; value_prefix?: string }[];
  forward?: boolean;
  forward_payload_header?: string;
}

interface JwtRule {
  match: RouteMatch;
  requires?: { provider_name?: string };
}

interface JwtAuthentication {
  providers: Record<string, JwtProvider>;
  rules: JwtRule[];
}

interface HttpFilter {
  name: string;
  typed_config: { '@type': string } & Partial<JwtAuthentication>;
}

interface HttpConnectionManager {
  '@type': string;
  stream_idle_timeout?: string;
  route_config: { virtual_hosts: VirtualHost[] };
  http_filters: HttpFilter[];
}

interface Listener {
  name: string;
  address: { socket_address: SocketAddress };
  filter_chains: {
    transport_socket?: {
      name: string;
      typed_config: { '@type': string; common_tls_context?: { alpn_protocols?: string[] } };
    };
    filters: { name: string; typed_config: HttpConnectionManager }[];
  }[];
}

interface EnvoyBootstrap {
  static_resources: { listeners: Listener[]; clusters: Cluster[] };
}

// Only the parts of the Keycloak realm representation that the checks read.
interface ProtocolMapper {
  name: string;
  protocol: string;
  protocolMapper: string;
  config: Record<string, string>;
}

interface RealmClient {
  clientId: string;
  publicClient?: boolean;
  standardFlowEnabled?: boolean;
  serviceAccountsEnabled?: boolean;
  secret?: string;
  attributes?: Record<string, string>;
  protocolMappers?: ProtocolMapper[];
  defaultClientScopes?: string[];
}

interface RealmUser {
  username: string;
  serviceAccountClientId?: string;
  realmRoles?: string[];
}

interface RealmRepresentation {
  realm: string;
  enabled?: boolean;
  roles?: { realm?: { name: string }[] };
  clients?: RealmClient[];
  clientScopes?: unknown[];
  users?: RealmUser[];
}

const envoy = parseYaml(readRepositoryFile('envoy/envoy.yaml')) as EnvoyBootstrap;
const realm = JSON.parse(readRepositoryFile('keycloak/realm-faas.json')) as RealmRepresentation;
const jobServiceProto = readRepositoryFile('proto/faas/v1/job_service.proto');

const jobServiceName = 'faas.v1.JobService';
const publicListenerPort = 8443;
const expectedFilterOrder = [
  'envoy.filters.http.cors',
  'envoy.filters.http.grpc_web',
  'envoy.filters.http.jwt_authn',
  'envoy.filters.http.router',
];

/** Returns the gRPC paths of the server-streaming RPCs declared in job_service.proto. */
function streamingRpcPaths(): string[] {
  const paths: string[] = [];
  for (const match of jobServiceProto.matchAll(/rpc\s+(\w+)\s*\([^)]*\)\s*returns\s*\(\s*stream\s/g)) {
    paths.push(`/${jobServiceName}/${match[1]}`);
  }
  return paths;
}

function durationMs(value: string | undefined, field: string): number {
  assert.ok(value !== undefined, `${field} is missing`);
  const ms = parseDurationMs(value);
  assert.ok(ms !== undefined, `${field} "${value}" is invalid: expected a duration such as "30s"`);
  return ms;
}

function publicListener(): Listener {
  const listener = envoy.static_resources.listeners.find(
    (candidate) => candidate.address.socket_address.port_value === publicListenerPort,
  );
  assert.ok(listener, `no Envoy listener on port ${publicListenerPort}`);
  return listener;
}

function connectionManager(): HttpConnectionManager {
  const filter = publicListener().filter_chains[0]?.filters.find(
    (candidate) => candidate.name === 'envoy.filters.network.http_connection_manager',
  );
  assert.ok(filter, 'the public listener has no http_connection_manager filter');
  return filter.typed_config;
}

function virtualHost(): VirtualHost {
  const hosts = connectionManager().route_config.virtual_hosts;
  assert.equal(hosts.length, 1, 'expected exactly one virtual host');
  return hosts[0]!;
}

function jwtAuthentication(): JwtAuthentication {
  const filter = connectionManager().http_filters.find((candidate) => candidate.name === 'envoy.filters.http.jwt_authn');
  assert.ok(filter, 'the jwt_authn HTTP filter is missing');
  const { providers, rules } = filter.typed_config;
  assert.ok(providers, 'jwt_authn has no providers');
  assert.ok(rules, 'jwt_authn has no rules');
  return { providers, rules };
}

function keycloakProvider(): JwtProvider {
  const provider = jwtAuthentication().providers['keycloak'];
  assert.ok(provider, 'jwt_authn has no provider named keycloak');
  return provider;
}

function cluster(name: string): Cluster {
  const found = envoy.static_resources.clusters.find((candidate) => candidate.name === name);
  assert.ok(found, `no Envoy cluster named ${name}`);
  return found;
}

function clusterAddresses(found: Cluster): SocketAddress[] {
  return found.load_assignment.endpoints.flatMap((group) =>
    group.lb_endpoints.map((entry) => entry.endpoint.address.socket_address),
  );
}

function realmClient(clientId: string): RealmClient {
  const client = realm.clients?.find((candidate) => candidate.clientId === clientId);
  assert.ok(client, `realm has no client ${clientId}`);
  return client;
}

function realmUser(username: string): RealmUser {
  const user = realm.users?.find((candidate) => candidate.username === username);
  assert.ok(user, `realm has no user ${username}`);
  return user;
}

const allClientIds = [identityDefaults.cliClientId, identityDefaults.browserClientId, identityDefaults.serviceClientId];

describe('edge configuration', () => {
  describe('envoy/envoy.yaml', () => {
    it('listener terminates TLS with h2 and http/1.1', () => {
      const chain = publicListener().filter_chains[0];
      assert.ok(chain, 'the public listener has no filter chain');
      const socket = chain.transport_socket;
      assert.equal(socket?.name, 'envoy.transport_sockets.tls', 'the public listener does not terminate TLS');
      assert.match(socket.typed_config['@type'], /DownstreamTlsContext$/, 'the TLS context is not a DownstreamTlsContext');
      const alpn = socket.typed_config.common_tls_context?.alpn_protocols ?? [];
      assert.ok(alpn.includes('h2'), 'ALPN does not offer h2, so native gRPC clients cannot connect');
      assert.ok(alpn.includes('http/1.1'), 'ALPN does not offer http/1.1, which grpc-web browsers may use');
    });

    it('HTTP filters run in order cors, grpc_web, jwt_authn, router', () => {
      const names = connectionManager().http_filters.map((filter) => filter.name);
      assert.deepEqual(names, expectedFilterOrder, `HTTP filter order is ${names.join(', ')}`);
    });

    it('CORS exposes gRPC status and allows the token', () => {
      const policy = virtualHost().typed_per_filter_config?.['envoy.filters.http.cors'];
      assert.ok(policy, 'the virtual host has no CORS policy');
      const exposed = (policy.expose_headers ?? '').split(',').map((header) => header.trim());
      const allowed = (policy.allow_headers ?? '').split(',').map((header) => header.trim());
      for (const header of ['grpc-status', 'grpc-message', 'grpc-status-details-bin']) {
        assert.ok(exposed.includes(header), `CORS does not expose ${header}`);
      }
      for (const header of ['content-type', 'x-grpc-web', 'x-user-agent', 'grpc-timeout', 'authorization']) {
        assert.ok(allowed.includes(header), `CORS does not allow request header ${header}`);
      }
    });

    it('jwt provider reads and forwards the bearer token', () => {
      const provider = keycloakProvider();
      const bearer = provider.from_headers?.find((header) => header.name.toLowerCase() === 'authorization');
      assert.ok(bearer, 'the keycloak provider does not read the authorization header');
      assert.equal(bearer.value_prefix, 'Bearer ', 'the authorization header prefix is not "Bearer "');
      assert.equal(provider.forward, true, 'the token is not forwarded, so the gateway cannot verify it again');
      assert.equal(provider.forward_payload_header, 'x-jwt-payload', 'the verified claims header is not x-jwt-payload');
      durationMs(provider.remote_jwks?.http_uri?.timeout, 'remote_jwks.http_uri.timeout');
      durationMs(provider.remote_jwks?.cache_duration, 'remote_jwks.cache_duration');
    });

    it('public prefixes are exempt before the / rule', () => {
      const { rules } = jwtAuthentication();
      const catchAllIndex = rules.findIndex((rule) => rule.match.prefix === '/');
      assert.ok(catchAllIndex >= 0, 'no jwt_authn rule matches prefix /');
      assert.equal(
        rules[catchAllIndex]!.requires?.provider_name,
        'keycloak',
        'the / rule does not require the keycloak provider',
      );
      for (const prefix of identityDefaults.publicPathPrefixes) {
        const index = rules.findIndex((rule) => rule.match.prefix === prefix);
        assert.ok(index >= 0, `no jwt_authn rule for public prefix ${prefix}`);
        assert.equal(rules[index]!.requires, undefined, `the rule for public prefix ${prefix} requires a token`);
        assert.ok(index < catchAllIndex, `the rule for ${prefix} comes after the / rule, which matches first`);
      }
    });

    it('streaming RPC routes have no deadline', () => {
      const paths = streamingRpcPaths();
      assert.ok(paths.includes(`/${jobServiceName}/Watch`), 'job_service.proto parse found no streaming Watch RPC');
      assert.ok(paths.includes(`/${jobServiceName}/Logs`), 'job_service.proto parse found no streaming Logs RPC');

      const routes = virtualHost().routes;
      const catchAllIndex = routes.findIndex((route) => route.match.prefix === '/');
      assert.ok(catchAllIndex >= 0, 'no route matches prefix /');
      assert.equal(routes[catchAllIndex]!.route?.cluster, 'gateway', 'the / route does not go to the gateway cluster');

      const { maxTimeoutSeconds } = readGatewayConfig({ FAAS_OIDC_ISSUER: 'https://keycloak.example.com/realms/faas' });
      const hcmIdleTimeout = connectionManager().stream_idle_timeout;
      for (const path of paths) {
        const index = routes.findIndex((route) => route.match.path === path);
        assert.ok(index >= 0, `no route for streaming RPC ${path}`);
        const route = routes[index]!.route;
        assert.equal(route?.cluster, 'gateway', `the route for ${path} does not go to the gateway cluster`);
        assert.equal(route?.timeout, '0s', `the route for ${path} would end the stream at its timeout`);
        assert.ok(index < catchAllIndex, `the route for ${path} comes after the / route, which matches first`);

        // A job can run silently for its whole timeout, so a shorter idle
        // timeout closes a Watch or Logs stream on a healthy job.
        const idleMs = durationMs(route?.idle_timeout ?? hcmIdleTimeout, `idle timeout of ${path}`);
        assert.ok(
          idleMs >= maxTimeoutSeconds * 1000,
          `idle timeout of ${path} (${idleMs} ms) is below the gateway's default maximum job timeout of ${maxTimeoutSeconds} s`,
        );
      }
    });

    it('gateway cluster speaks HTTP/2 with a health check', () => {
      const gateway = cluster('gateway');
      const options = gateway.typed_extension_protocol_options?.['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
      assert.ok(options, 'the gateway cluster has no HttpProtocolOptions');
      assert.ok(
        options.explicit_http_config?.http2_protocol_options,
        'the gateway cluster does not use HTTP/2, which gRPC requires',
      );

      const gatewayPort = Number(readGatewayConfig({ FAAS_OIDC_ISSUER: 'https://keycloak.example.com/realms/faas' }).listenAddress.split(':').at(-1));
      const addresses = clusterAddresses(gateway);
      assert.ok(addresses.length > 0, 'the gateway cluster has no endpoints');
      for (const address of addresses) {
        assert.equal(address.port_value, gatewayPort, `gateway endpoint ${address.address} is not on the gateway's default port`);
      }

      const grpcCheck = gateway.health_checks?.find((check) => check.grpc_health_check);
      assert.ok(grpcCheck, 'the gateway cluster has no gRPC health check');
      assert.equal(
        grpcCheck.grpc_health_check?.service_name,
        jobServiceName,
        'the gateway health check does not ask about the service it routes to',
      );
    });
  });

  describe('keycloak/realm-faas.json', () => {
    it('realm defines the user and admin roles', () => {
      assert.equal(realm.realm, identityDefaults.realm, 'realm name differs from identityDefaults.realm');
      assert.equal(realm.enabled, true, 'the realm is not enabled');
      const roles = (realm.roles?.realm ?? []).map((role) => role.name);
      assert.ok(roles.includes(identityDefaults.userRole), `realm roles lack ${identityDefaults.userRole}`);
      assert.ok(roles.includes(identityDefaults.adminRole), `realm roles lack ${identityDefaults.adminRole}`);
    });

    it('realm keeps built-in client scopes', () => {
      // Keycloak's RealmManager.importRealm creates the built-in scopes (basic,
      // roles, profile, ...) only when the realm declares no clientScopes.
      assert.equal(realm.clientScopes, undefined, 'a clientScopes array stops Keycloak creating basic, roles and profile');
    });

    for (const clientId of allClientIds) {
      it(`${clientId} puts the audience in access tokens`, () => {
        const mapper = realmClient(clientId).protocolMappers?.find(
          (candidate) => candidate.protocolMapper === 'oidc-audience-mapper',
        );
        assert.ok(mapper, `${clientId} has no oidc-audience-mapper`);
        assert.equal(mapper.protocol, 'openid-connect', `${clientId} audience mapper is not an OpenID Connect mapper`);
        assert.equal(
          mapper.config['included.custom.audience'],
          identityDefaults.audience,
          `${clientId} audience mapper does not add ${identityDefaults.audience}`,
        );
        assert.equal(
          mapper.config['access.token.claim'],
          'true',
          `${clientId} audience mapper does not write to access tokens`,
        );
      });

      it(`${clientId} default scopes include basic`, () => {
        const scopes = realmClient(clientId).defaultClientScopes ?? [];
        assert.ok(scopes.includes('basic'), `${clientId} lacks scope basic, so Keycloak 25+ omits sub`);
        assert.ok(scopes.includes('roles'), `${clientId} lacks scope roles, so tokens omit realm_access.roles`);
      });
    }

    it('CLI client is public with the device grant', () => {
      const client = realmClient(identityDefaults.cliClientId);
      assert.equal(client.publicClient, true, 'the CLI client is not public');
      assert.equal(
        client.attributes?.['oauth2.device.authorization.grant.enabled'],
        'true',
        'the CLI client does not allow the device authorization grant',
      );
      assert.equal(client.standardFlowEnabled, false, 'the CLI client allows the authorization code flow');
    });

    it('web client is public and requires S256', () => {
      const client = realmClient(identityDefaults.browserClientId);
      assert.equal(client.publicClient, true, 'the web client is not public');
      assert.equal(client.standardFlowEnabled, true, 'the web client does not allow the authorization code flow');
      assert.equal(client.attributes?.['pkce.code.challenge.method'], 'S256', 'the web client does not require PKCE S256');
    });

    it('service client has a service account', () => {
      const client = realmClient(identityDefaults.serviceClientId);
      assert.equal(client.publicClient, false, 'the service client is not confidential');
      assert.equal(client.serviceAccountsEnabled, true, 'the service client has no service account');
      assert.ok(client.secret, 'the service client has no secret');

      const account = realmUser(`service-account-${identityDefaults.serviceClientId}`);
      assert.equal(account.serviceAccountClientId, identityDefaults.serviceClientId, 'the service account user names another client');
      assert.ok(account.realmRoles?.includes(identityDefaults.userRole), `the service account lacks ${identityDefaults.userRole}`);
    });

    it('sample users carry their roles', () => {
      const alice = realmUser('alice');
      assert.ok(alice.realmRoles?.includes(identityDefaults.userRole), `alice lacks ${identityDefaults.userRole}`);
      assert.ok(!alice.realmRoles?.includes(identityDefaults.adminRole), `alice has ${identityDefaults.adminRole}`);
      const admin = realmUser('admin');
      assert.ok(admin.realmRoles?.includes(identityDefaults.userRole), `admin lacks ${identityDefaults.userRole}`);
      assert.ok(admin.realmRoles?.includes(identityDefaults.adminRole), `admin lacks ${identityDefaults.adminRole}`);
    });
  });

  describe('Envoy and Keycloak agree', () => {
    it('issuer ends with the realm issuer path', () => {
      const issuer = keycloakProvider().issuer;
      assert.ok(issuer, 'the keycloak provider has no issuer');
      assert.equal(keycloakPaths(realm.realm).issuer, keycloakPaths().issuer, 'the realm file names another realm');
      assert.ok(
        issuer.endsWith(keycloakPaths(realm.realm).issuer),
        `issuer ${issuer} does not end with ${keycloakPaths(realm.realm).issuer}`,
      );
      assert.doesNotThrow(() => new URL(issuer), `issuer ${issuer} is not an absolute URL`);
    });

    it('audiences include the realm mapper audience', () => {
      const audiences = keycloakProvider().audiences ?? [];
      assert.ok(audiences.includes(identityDefaults.audience), `audiences lack ${identityDefaults.audience}`);
    });

    it('JWKS is fetched from the keycloak cluster', () => {
      const httpUri = keycloakProvider().remote_jwks?.http_uri;
      assert.ok(httpUri?.uri, 'the keycloak provider has no remote_jwks uri');
      const jwksUrl = new URL(httpUri.uri);
      assert.equal(jwksUrl.pathname, keycloakPaths(realm.realm).jwks, 'the JWKS path is not the realm certs endpoint');
      assert.equal(httpUri.cluster, 'keycloak', 'the JWKS fetch does not use the keycloak cluster');

      const keycloak = cluster('keycloak');
      assert.equal(keycloak.type, 'STRICT_DNS', 'the keycloak cluster does not resolve its host name by DNS');
      const addresses = clusterAddresses(keycloak);
      assert.ok(
        addresses.some((address) => address.address === jwksUrl.hostname && String(address.port_value) === jwksUrl.port),
        `the keycloak cluster has no endpoint ${jwksUrl.host}`,
      );
    });
  });
});
