/** Runtime settings of the page, served by the edge at `GET /config.json`. */
export interface PageConfig {
  /** OpenID Connect issuer the browser signs in with. */
  issuer: string;
  /** Public OIDC client of the page (authorization code with PKCE). */
  clientId: string;
  /** Base URL of the grpc-web endpoint; the page's own origin unless the operator sets another. */
  grpcWebUrl: string;
  /** Space-separated scopes to request at sign-in. */
  scopes: string;
}

const configPath = '/config.json';

/** Fetches and checks `/config.json`. Throws an error that names the missing or invalid field. */
export async function loadPageConfig(): Promise<PageConfig> {
  let response: Response;
  try {
    response = await fetch(configPath, { headers: { accept: 'application/json' }, cache: 'no-store' });
  } catch (error) {
    throw new Error(`Could not fetch ${configPath}: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!response.ok) {
    throw new Error(`${configPath} returned HTTP ${response.status}; the edge serves it, so check that the page is opened through the edge`);
  }

  let body: unknown;
  try {
    body = await response.json();
  } catch {
    throw new Error(`${configPath} is not JSON; the edge serves it, so check that the page is opened through the edge`);
  }
  if (typeof body !== 'object' || body === null) {
    throw new Error(`${configPath} is not a JSON object`);
  }

  const fields = body as Record<string, unknown>;
  const text = (name: keyof PageConfig): string => {
    const value = fields[name];
    if (typeof value !== 'string' || value.trim() === '') {
      throw new Error(`${configPath} has no "${name}" string; set it on the edge`);
    }
    return value.trim();
  };
  const issuer = text('issuer');
  const clientId = text('clientId');
  const scopes = text('scopes');

  // An empty grpcWebUrl means the page's own origin, which is also the edge's default.
  const rawGrpcWebUrl = typeof fields.grpcWebUrl === 'string' && fields.grpcWebUrl.trim() !== '' ? fields.grpcWebUrl.trim() : window.location.origin;
  const grpcWebUrl = URL.parse(rawGrpcWebUrl, window.location.origin)?.href.replace(/\/$/, '');
  if (grpcWebUrl === undefined) {
    throw new Error(`${configPath} has an invalid "grpcWebUrl" ${JSON.stringify(rawGrpcWebUrl)}; expected an absolute URL`);
  }
  if (URL.parse(issuer) === null) {
    throw new Error(`${configPath} has an invalid "issuer" ${JSON.stringify(issuer)}; expected an absolute URL`);
  }
  return { issuer, clientId, grpcWebUrl, scopes };
}
