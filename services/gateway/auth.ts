import type { Metadata } from '@grpc/grpc-js';
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { Caller } from '../../common/caller.js';
import { ErrorCode, FaasError } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';

export interface AuthConfig {
  /** Issuer URL; its discovery document names the JWKS. */
  issuer: string;
  /** Audience that access tokens must carry. */
  audience: string;
  /** Accepted signature algorithms; only asymmetric ones. */
  algorithms: string[];
  clockToleranceSeconds: number;
  /** Minimum time between two JWKS fetches caused by unknown key ids. */
  jwksCooldownMs: number;
  /** How long a fetched JWKS is used before it is fetched again. */
  jwksCacheMaxAgeMs: number;
  userRole: string;
  adminRole: string;
}

/** Identity and roles of a verified token's bearer. */
export interface Identity extends Caller {
  /** Display name: `preferred_username`, else the subject. */
  name: string;
  roles: string[];
}

/** Permission a call needs: a job permission, or `scale` to read the autoscaler (admins only). */
export type Permission = 'submit' | 'read' | 'cancel' | 'scale';

const discoveryTimeoutMs = 5_000;
const discoveryRetryMs = 1_000;

/**
 * Verifies bearer tokens against the issuer's keys. The key set is found
 * through the issuer's discovery document, cached, and fetched again when a
 * token names an unknown key id, at most once per cool-down, so forged key
 * ids cannot make the gateway flood the issuer.
 */
const verifiedTokenTtlMs = 60_000;
const verifiedTokensMax = 10_000;

export class TokenVerifier {
  private keys: JWTVerifyGetKey | undefined;
  private discovery: Promise<JWTVerifyGetKey> | undefined;
  private lastDiscoveryFailureMs = 0;

  constructor(
    private readonly config: AuthConfig,
    private readonly log: Logger,
  ) {}

  /** Tokens verified lately, so that a client's stream of calls costs one signature check a minute. */
  private readonly verified = new Map<string, { payload: JWTPayload; untilMs: number }>();

  /** Returns the caller's identity, or throws UNAUTHENTICATED with the reason. */
  async authenticate(metadata: Metadata): Promise<Identity> {
    const token = bearerToken(metadata);
    const nowMs = Date.now();
    const cached = this.verified.get(token);
    if (cached && nowMs < cached.untilMs) return this.identity(cached.payload);
    const keys = await this.keySet();
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: this.config.issuer,
        audience: this.config.audience,
        algorithms: this.config.algorithms,
        clockTolerance: this.config.clockToleranceSeconds,
        requiredClaims: ['exp'],
      }));
    } catch (error) {
      throw this.rejection(error);
    }
    this.remember(token, payload, nowMs);
    return this.identity(payload);
  }

  /**
   * Keeps a verified token for up to a minute and never past its expiry.
   * NOTE: a key removed from the JWKS keeps working for the tokens in here
   * until they drop out, at most a minute later.
   */
  private remember(token: string, payload: JWTPayload, nowMs: number): void {
    if (this.verified.size >= verifiedTokensMax) {
      for (const [key, entry] of this.verified) if (entry.untilMs <= nowMs) this.verified.delete(key);
      if (this.verified.size >= verifiedTokensMax) this.verified.clear();
    }
    this.verified.set(token, { payload, untilMs: Math.min(nowMs + verifiedTokenTtlMs, (payload.exp ?? 0) * 1000) });
  }

  /** Throws PERMISSION_DENIED unless the identity's roles allow `permission`. */
  authorize(identity: Identity, permission: Permission): void {
    const { userRole, adminRole } = this.config;
    if (permission === 'scale') {
      if (identity.roles.includes(adminRole)) return;
      throw new FaasError(ErrorCode.PermissionDenied, `${identity.name} may not read scaling decisions: the token lacks role ${adminRole}`);
    }
    const allowed =
      identity.roles.includes(userRole) || (permission !== 'submit' && identity.roles.includes(adminRole));
    if (!allowed) {
      const needed = permission === 'submit' ? `role ${userRole}` : `role ${userRole} or ${adminRole}`;
      throw new FaasError(ErrorCode.PermissionDenied, `${identity.name} may not ${permission} jobs: the token lacks ${needed}`);
    }
  }

  private identity(payload: JWTPayload): Identity {
    const azp = typeof payload.azp === 'string' ? payload.azp : undefined;
    // A service account's token may have no `sub`; its client id owns its jobs then.
    const subject = payload.sub ?? azp;
    if (!subject) throw new FaasError(ErrorCode.Unauthenticated, 'invalid token: it has neither sub nor azp');
    const access = payload.realm_access as { roles?: unknown } | undefined;
    const roles = Array.isArray(access?.roles) ? access.roles.filter((role): role is string => typeof role === 'string') : [];
    const name = typeof payload.preferred_username === 'string' ? payload.preferred_username : subject;
    return { subject, name, roles, admin: roles.includes(this.config.adminRole) };
  }

  private rejection(error: unknown): FaasError {
    const reject = (reason: string) => new FaasError(ErrorCode.Unauthenticated, `invalid token: ${reason}`, { cause: error });
    if (error instanceof errors.JWTExpired) return reject('it has expired; get a new one (faas login)');
    if (error instanceof errors.JWTClaimValidationFailed) {
      if (error.claim === 'aud') return reject(`wrong audience; expected "${this.config.audience}"`);
      if (error.claim === 'iss') return reject(`wrong issuer; expected ${this.config.issuer}`);
      if (error.claim === 'nbf') return reject('it is not valid yet');
      return reject(`claim ${error.claim} failed: ${error.reason}`);
    }
    if (error instanceof errors.JWKSNoMatchingKey) return reject('it is signed with an unknown key');
    if (error instanceof errors.JOSEAlgNotAllowed) return reject(`its algorithm is not one of ${this.config.algorithms.join(', ')}`);
    if (error instanceof errors.JWSSignatureVerificationFailed) return reject('its signature does not verify');
    if (error instanceof errors.JWKSTimeout) {
      return new FaasError(ErrorCode.Unavailable, 'the identity provider did not return its keys in time; retry shortly', { cause: error });
    }
    if (error instanceof errors.JOSEError) return reject('it is malformed');
    return new FaasError(ErrorCode.Internal, 'token verification failed', { cause: error });
  }

  private async keySet(): Promise<JWTVerifyGetKey> {
    if (this.keys) return this.keys;
    if (!this.discovery) {
      if (Date.now() - this.lastDiscoveryFailureMs < discoveryRetryMs) {
        throw new FaasError(ErrorCode.Unavailable, `the identity provider ${this.config.issuer} is unreachable; retry shortly`);
      }
      this.discovery = this.discover().finally(() => (this.discovery = undefined));
    }
    return this.discovery;
  }

  private async discover(): Promise<JWTVerifyGetKey> {
    const url = `${this.config.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(discoveryTimeoutMs), redirect: 'error' });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const document = (await response.json()) as { issuer?: unknown; jwks_uri?: unknown };
      if (document.issuer !== this.config.issuer) {
        throw new Error(`the document names issuer ${String(document.issuer)}, not ${this.config.issuer}`);
      }
      if (typeof document.jwks_uri !== 'string') throw new Error('the document has no jwks_uri');
      this.keys = createRemoteJWKSet(new URL(document.jwks_uri), {
        cooldownDuration: this.config.jwksCooldownMs,
        cacheMaxAge: this.config.jwksCacheMaxAgeMs,
        timeoutDuration: discoveryTimeoutMs,
      });
      this.log.info({ issuer: this.config.issuer, jwksUri: document.jwks_uri }, 'found the identity provider keys');
      return this.keys;
    } catch (error) {
      this.lastDiscoveryFailureMs = Date.now();
      this.log.error({ err: error, url }, 'OpenID discovery failed');
      throw new FaasError(ErrorCode.Unavailable, `the identity provider ${this.config.issuer} is unreachable; retry shortly`, {
        cause: error,
      });
    }
  }
}

function bearerToken(metadata: Metadata): string {
  const header = metadata.get('authorization')[0];
  if (typeof header !== 'string' || header === '') {
    throw new FaasError(
      ErrorCode.Unauthenticated,
      'missing bearer token: send "authorization: Bearer <access token>"; the CLI gets one with faas login',
    );
  }
  const match = /^Bearer\s+(\S+)$/i.exec(header.trim());
  if (!match) throw new FaasError(ErrorCode.Unauthenticated, 'invalid authorization header: expected "Bearer <access token>"');
  return match[1];
}
