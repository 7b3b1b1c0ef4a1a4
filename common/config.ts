/**
 * Readers for service configuration from environment variables. Each reader
 * throws ConfigError naming the variable and the accepted values, so a bad
 * setting stops start-up with a message the operator can act on.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

export function readString(env: Env, name: string, fallback: string): string {
  const value = env[name];
  return value === undefined || value === '' ? fallback : value;
}

export function readInt(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name}=${raw} is invalid: expected an integer from ${min} to ${max}`);
  }
  return value;
}

export function readBool(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw.toLowerCase())) return true;
  if (['0', 'false', 'no', 'off'].includes(raw.toLowerCase())) return false;
  throw new ConfigError(`${name}=${raw} is invalid: expected true or false`);
}

const durationUnitsMs: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses "250ms", "10s", "5m", "1h" or a plain number of milliseconds. */
export function parseDurationMs(raw: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(raw.trim());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * durationUnitsMs[match[2] ?? 'ms']);
}

export function readDurationMs(env: Env, name: string, fallbackMs: number, minMs: number, maxMs: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallbackMs;
  const value = parseDurationMs(raw);
  if (value === undefined || value < minMs || value > maxMs) {
    throw new ConfigError(
      `${name}=${raw} is invalid: expected a duration such as 500ms, 10s or 5m, from ${minMs} ms to ${maxMs} ms`,
    );
  }
  return value;
}

/** Reads a gRPC listen or dial address of the form host:port. */
export function readAddress(env: Env, name: string, fallback: string): string {
  const value = readString(env, name, fallback);
  if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/.test(value)) {
    throw new ConfigError(`${name}=${value} is invalid: expected host:port, such as 127.0.0.1:50051`);
  }
  return value;
}

const byteUnits: Record<string, number> = {
  '': 1,
  b: 1,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
  tb: 1000 ** 4,
};

/** The units `parseBytes` reads, as a message lists them. */
export const byteUnitNames = 'B, KiB, MiB, GiB, TiB (or KB, MB, GB, TB)';

/** Parses "512MiB", "1GiB", "64KiB" (or KB, MB, GB, TB in powers of 1000) or a plain number of bytes. */
export function parseBytes(raw: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(raw.trim());
  if (!match) return undefined;
  const unit = byteUnits[match[2].toLowerCase()];
  return unit === undefined ? undefined : Math.round(Number(match[1]) * unit);
}

/** Returns the unit of a size such as "5XB" when it is not one `parseBytes` reads, or undefined. */
export function unknownByteUnit(raw: string): string | undefined {
  const unit = /^\d+(?:\.\d+)?\s*([a-zA-Z]+)$/.exec(raw.trim())?.[1];
  return unit !== undefined && byteUnits[unit.toLowerCase()] === undefined ? unit : undefined;
}

/** Writes a byte count in the largest binary unit it fills, such as "16 GiB" or "1.5 MiB". */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let index = 0;
  while (value >= 1024 && index < units.length - 1) {
    value /= 1024;
    index++;
  }
  // One decimal at most, and none when it is 0: "3 MiB", not "3.0 MiB".
  return `${Number(value.toFixed(1))} ${units[index]}`;
}

export function readBytes(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = parseBytes(raw);
  if (value === undefined || value < min || value > max) {
    throw new ConfigError(`${name}=${raw} is invalid: expected a size such as 512MiB or 2GiB, from ${min} to ${max} bytes`);
  }
  return value;
}
