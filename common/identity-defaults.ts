/**
 * Names shared by the gateway, the development identity provider, the
 * Keycloak realm and the Envoy configuration. A test checks that the realm
 * and Envoy files agree with these values.
 */
export const identityDefaults = {
  /** Keycloak realm; the issuer is `<base>/realms/<realm>`. */
  realm: 'faas',
  /** Audience the gateway requires in access tokens. */
  audience: 'faas',
  /** Realm role that may submit jobs and read its own. */
  userRole: 'faas-user',
  /** Realm role that may read and cancel every job. */
  adminRole: 'faas-admin',
  /** Public client of the CLI, with the device authorization grant. */
  cliClientId: 'faas-cli',
  /** Public client of the browser page, with PKCE. */
  browserClientId: 'faas-web',
  /** Confidential client with a service account, for machines. */
  serviceClientId: 'faas-service',
  /** gRPC path prefixes that need no token. */
  publicPathPrefixes: [
    '/grpc.health.v1.Health/',
    '/grpc.reflection.v1.ServerReflection/',
    '/grpc.reflection.v1alpha.ServerReflection/',
  ],
} as const;

/** Paths under an issuer that Keycloak uses, relative to `<base>`. */
export function keycloakPaths(realm: string = identityDefaults.realm) {
  const issuer = `/realms/${realm}`;
  return {
    issuer,
    discovery: `${issuer}/.well-known/openid-configuration`,
    jwks: `${issuer}/protocol/openid-connect/certs`,
    token: `${issuer}/protocol/openid-connect/token`,
    deviceAuthorization: `${issuer}/protocol/openid-connect/auth/device`,
    authorization: `${issuer}/protocol/openid-connect/auth`,
  };
}
