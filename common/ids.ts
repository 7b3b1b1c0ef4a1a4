import { randomBytes } from 'node:crypto';

// Crockford's base32 in lower case: no i, l, o or u, so ids read aloud well.
const alphabet = '0123456789abcdefghjkmnpqrstvwxyz';
const timeChars = 10;
const randomChars = 16;

export const jobIdPattern = /^[0-9a-hjkmnp-tv-z]{26}$/;

/**
 * Creates a job id: 10 characters of milliseconds since the epoch, then 16
 * random ones, so ids sort by creation time and are valid KV keys and NATS
 * subject tokens.
 */
export function newJobId(nowMs: number = Date.now()): string {
  let time = '';
  // A fraction of a millisecond would pick no character.
  let remaining = Math.floor(nowMs);
  for (let i = 0; i < timeChars; i++) {
    time = alphabet[remaining % 32] + time;
    remaining = Math.floor(remaining / 32);
  }
  const bytes = randomBytes(randomChars);
  let random = '';
  for (const byte of bytes) random += alphabet[byte % 32];
  return time + random;
}

export function isJobId(value: string): boolean {
  return jobIdPattern.test(value);
}
