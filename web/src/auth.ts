import { UserManager, WebStorageStateStore, type User } from 'oidc-client-ts';
import { identityDefaults } from '../../common/identity-defaults.js';
import type { PageConfig } from './config.js';

/** Path of the page that receives the authorization response; it must be a registered redirect URI of the client. */
export const callbackPath = '/callback';

/** Account of the signed-in user, from the claims of the access token that the gateway checks. */
export interface Account {
  /** `preferred_username`, else the subject. */
  name: string;
  subject: string;
  /** Realm roles from `realm_access.roles`. */
  roles: string[];
  /** The token carries the admin role, so the page shows the scaling panel. */
  admin: boolean;
  expiresAt: Date;
}

export type Session =
  | { status: 'starting' }
  | { status: 'signed-out'; error?: string }
  | { status: 'signed-in'; account: Account; renewalError?: string };

/** Thrown by `accessToken()` when no valid token can be had without a new interactive sign-in. */
export class SignInRequiredError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SignInRequiredError';
  }
}

/** Renew a token that expires within this many seconds before using it. */
const renewBeforeExpirySeconds = 10;
/** Session storage key set by a local sign-out, so the next sign-in sends `prompt=login` and the provider shows its sign-in page. */
const promptLoginKey = 'faas.promptLogin';

/** Decodes the payload of a JWT without verifying it. The gateway verifies every token; the page only displays claims. */
function decodeJwtPayload(token: string): Record<string, unknown> {
  const part = token.split('.')[1];
  if (part === undefined) return {};
  try {
    const base64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const binary = atob(base64.padEnd(base64.length + ((4 - (base64.length % 4)) % 4), '='));
    const bytes = Uint8Array.from(binary, (character) => character.charCodeAt(0));
    const payload: unknown = JSON.parse(new TextDecoder().decode(bytes));
    return typeof payload === 'object' && payload !== null ? (payload as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function accountOf(user: User): Account {
  const claims = decodeJwtPayload(user.access_token);
  const access = claims.realm_access as { roles?: unknown } | undefined;
  const roles = Array.isArray(access?.roles) ? access.roles.filter((role): role is string => typeof role === 'string') : [];
  const subject = typeof claims.sub === 'string' ? claims.sub : user.profile.sub;
  const name =
    typeof claims.preferred_username === 'string'
      ? claims.preferred_username
      : typeof user.profile.preferred_username === 'string'
        ? user.profile.preferred_username
        : subject;
  const expiresAt = new Date((user.expires_at ?? 0) * 1000);
  return { name, subject, roles, admin: roles.includes(identityDefaults.adminRole), expiresAt };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Signs the user in with the authorization code flow and PKCE (S256) through oidc-client-ts, keeps the
 * access token fresh with the refresh token, and publishes the session to React through `subscribe`.
 */
export class Auth {
  readonly manager: UserManager;
  private session: Session = { status: 'starting' };
  private readonly listeners = new Set<() => void>();
  private renewal: Promise<User | null> | undefined;

  constructor(config: PageConfig) {
    const origin = window.location.origin;
    this.manager = new UserManager({
      authority: config.issuer,
      client_id: config.clientId,
      redirect_uri: `${origin}${callbackPath}`,
      post_logout_redirect_uri: `${origin}/`,
      response_type: 'code',
      scope: config.scopes,
      // The access token carries everything the page shows, and the development provider has no userinfo endpoint.
      loadUserInfo: false,
      // Renewal runs through renew() below, so a renewal before expiry and one for a call never run at once.
      // With rotated refresh tokens, a second use revokes the whole grant (oidc-provider 9 does so).
      automaticSilentRenew: false,
      userStore: new WebStorageStateStore({ store: window.sessionStorage }),
    });
    this.manager.events.addUserLoaded((user) => this.publish({ status: 'signed-in', account: accountOf(user) }));
    this.manager.events.addUserUnloaded(() => this.publish({ status: 'signed-out' }));
    // Raised a minute before the access token expires (oidc-client-ts default), or a second after loading a
    // token with less time left.
    this.manager.events.addAccessTokenExpiring(() => {
      this.renew().catch((error: unknown) => this.renewalFailed(error));
    });
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getSnapshot = (): Session => this.session;

  /**
   * Completes a sign-in when the page is the redirect target, else loads the stored user. Returns the path
   * the user was on before the sign-in, or undefined when the current path stays.
   */
  async start(): Promise<string | undefined> {
    if (window.location.pathname === callbackPath) {
      try {
        const user = await this.manager.signinRedirectCallback();
        window.sessionStorage.removeItem(promptLoginKey);
        this.publish({ status: 'signed-in', account: accountOf(user) });
        const state = user.state as { returnPath?: unknown } | undefined;
        return typeof state?.returnPath === 'string' && state.returnPath.startsWith('/') ? state.returnPath : '/';
      } catch (error) {
        this.publish({ status: 'signed-out', error: `The sign-in did not complete: ${describe(error)}` });
        return '/';
      }
    }

    const user = await this.manager.getUser();
    if (user === null) {
      this.publish({ status: 'signed-out' });
    } else if (user.expired) {
      // A page reopened after the token expired: the refresh token may still be good.
      try {
        await this.renew();
      } catch (error) {
        await this.manager.removeUser();
        this.publish({ status: 'signed-out', error: `Your session has expired (${describe(error)}). Sign in again.` });
      }
    } else {
      this.publish({ status: 'signed-in', account: accountOf(user) });
    }
    return undefined;
  }

  /** Sends the browser to the identity provider's sign-in page. */
  async signIn(returnPath = window.location.pathname + window.location.search): Promise<void> {
    const promptLogin = window.sessionStorage.getItem(promptLoginKey) !== null;
    await this.manager.signinRedirect({
      state: { returnPath: returnPath === callbackPath ? '/' : returnPath },
      prompt: promptLogin ? 'login' : undefined,
    });
  }

  /**
   * Revokes the refresh token and removes the stored user. Where the provider offers RP-initiated logout,
   * the browser is sent there to end the provider's session too. Elsewhere (the development provider), the
   * provider's session stays, so the next sign-in sends `prompt=login` to show the sign-in page again.
   */
  async signOut(): Promise<void> {
    const endSessionEndpoint = await this.manager.metadataService.getEndSessionEndpoint().catch(() => undefined);
    try {
      // Only the refresh token: the gateway verifies access tokens locally, so revoking one changes nothing
      // there, and providers may reject revoking JWT access tokens (unsupported_token_type).
      await this.manager.revokeTokens(['refresh_token']);
    } catch {
      // Revocation is best effort: the user must be able to sign out while the provider is unreachable.
    }
    if (endSessionEndpoint !== undefined) {
      await this.manager.signoutRedirect();
      return;
    }
    window.sessionStorage.setItem(promptLoginKey, '1');
    await this.manager.removeUser();
    this.publish({ status: 'signed-out' });
  }

  /**
   * Returns an access token that is valid for at least a few more seconds, renewing it with the refresh token
   * first when needed. Throws SignInRequiredError when only a new interactive sign-in can get one.
   */
  async accessToken(): Promise<string> {
    let user = await this.manager.getUser();
    if (user === null) throw new SignInRequiredError('You are signed out. Sign in to continue.');
    const expiresIn = user.expires_in ?? 0;
    if (user.expired || expiresIn < renewBeforeExpirySeconds) {
      try {
        user = await this.renew();
      } catch (error) {
        this.renewalFailed(error);
        throw new SignInRequiredError(`Your session has expired and could not be renewed (${describe(error)}). Sign in again.`);
      }
    }
    return user.access_token;
  }

  /** Renews the token after the gateway rejected it as UNAUTHENTICATED; returns whether a new token was obtained. */
  async renewAfterRejection(): Promise<boolean> {
    try {
      await this.renew();
      return true;
    } catch (error) {
      this.renewalFailed(error);
      return false;
    }
  }

  /** Runs one silent renewal at a time and shares its outcome with every caller. */
  private async renew(): Promise<User> {
    this.renewal ??= this.manager.signinSilent().finally(() => (this.renewal = undefined));
    const user = await this.renewal;
    if (user === null) throw new Error('the identity provider returned no tokens');
    return user;
  }

  private renewalFailed(error: unknown): void {
    if (this.session.status !== 'signed-in') return;
    this.publish({ ...this.session, renewalError: `Your session could not be renewed: ${describe(error)}` });
  }

  private publish(session: Session): void {
    this.session = session;
    for (const listener of this.listeners) listener();
  }
}
