// Credentials as callers send them: a bearer token header, or HTTP basic auth (what Braze's Connected
// Content credentials send). Secrets never need to be in the URL, because callers log rendered URLs.
// Comparison is constant-time: both sides are hashed to equal length first.
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

export interface Credentials {
  /** True when the Authorization header matches one of the accepted credentials. */
  check(authorization: string | undefined): boolean;
  /** The WWW-Authenticate challenge to send with a 401. */
  readonly challenge: string;
}

export interface CredentialOptions {
  /** A bearer token. */
  bearer?: string;
  /** "user:password" for HTTP basic auth. */
  basic?: string;
}

const bearerHeader = (token: string): string => `Bearer ${token}`;
const basicHeader = (userPassword: string): string => `Basic ${Buffer.from(userPassword).toString('base64')}`;

/** The Authorization header a caller holding these credentials sends (the bearer token first); undefined if none. */
export function authorization(opts: CredentialOptions): string | undefined {
  if (opts.bearer) return bearerHeader(opts.bearer);
  if (opts.basic) return basicHeader(opts.basic);
  return undefined;
}

export function credentials(opts: CredentialOptions): Credentials | undefined {
  const accepted: Buffer[] = [];
  if (opts.bearer) accepted.push(digest(bearerHeader(opts.bearer)));
  if (opts.basic) accepted.push(digest(basicHeader(opts.basic)));
  if (accepted.length === 0) return undefined;
  return {
    challenge: opts.basic ? 'Basic realm="floodgate", charset="UTF-8"' : 'Bearer realm="floodgate"',
    check(authorization) {
      if (authorization === undefined) return false;
      const given = digest(normalise(authorization));
      let ok = false;
      for (const a of accepted) ok = timingSafeEqual(a, given) || ok;
      return ok;
    },
  };
}

/** The scheme is case-insensitive (RFC 9110); the rest is compared as sent. */
function normalise(header: string): string {
  const sp = header.indexOf(' ');
  if (sp === -1) return header;
  const scheme = header.slice(0, sp).toLowerCase();
  const rest = header.slice(sp + 1).trim();
  if (scheme === 'bearer') return `Bearer ${rest}`;
  if (scheme === 'basic') return `Basic ${rest}`;
  return header;
}
