import { join } from 'node:path';
import { Redis } from 'ioredis';
import { findFreePort } from '../dev/nats-server.js';
import { startProcess, type BenchProcess } from './processes.js';

/** The Redis server the BullMQ baseline uses. */
export interface RedisServer {
  host: string;
  port: number;
  /** The redis-server process the benchmark started, or undefined when it uses one that was already running. */
  process: BenchProcess | undefined;
  version: string;
  /** CPU time the server reports for itself (INFO cpu: used_cpu_user plus used_cpu_sys), in ms. */
  cpuMs(): Promise<number>;
  /** Deletes every key that starts with `prefix`. */
  deleteKeys(prefix: string): Promise<number>;
  /** Stops the server when the benchmark started it. */
  stop(): Promise<void>;
}

const sharedHost = '127.0.0.1';
const sharedPort = 6379;
const startTimeoutMs = 10_000;

/**
 * Uses the Redis server at 127.0.0.1:6379 when it replies to PING, otherwise
 * starts `redis-server` on a free loopback port with persistence off
 * (`--save "" --appendonly no`). Callers keep their keys under a prefix of
 * their own and delete them with `deleteKeys`.
 */
export async function openRedis(logDir: string): Promise<RedisServer> {
  let port = sharedPort;
  let started: BenchProcess | undefined;
  if (!(await answersPing(sharedHost, sharedPort))) {
    port = await findFreePort();
    started = startProcess(
      'redis-server',
      'redis-server',
      ['--bind', sharedHost, '--port', String(port), '--save', '', '--appendonly', 'no'],
      { logFile: join(logDir, 'redis-server.log') },
    );
    try {
      await started.waitForOutput('Ready to accept connections', startTimeoutMs);
    } catch (error) {
      await started.stop();
      throw error;
    }
  }
  const redis = new Redis({ host: sharedHost, port, lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  const info = await redis.info('server');
  const version = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
  return {
    host: sharedHost,
    port,
    process: started,
    version,
    async cpuMs() {
      const cpu = await redis.info('cpu');
      const seconds = (field: string) => Number(new RegExp(`^${field}:([0-9.]+)`, 'm').exec(cpu)?.[1] ?? Number.NaN);
      return (seconds('used_cpu_user') + seconds('used_cpu_sys')) * 1000;
    },
    async deleteKeys(prefix) {
      let deleted = 0;
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
        cursor = next;
        if (keys.length > 0) deleted += await redis.del(...keys);
      } while (cursor !== '0');
      return deleted;
    },
    async stop() {
      redis.disconnect();
      await started?.stop();
    },
  };
}

async function answersPing(host: string, port: number): Promise<boolean> {
  const probe = new Redis({ host, port, lazyConnect: true, connectTimeout: 1_000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => {
    // A refused connection means no server, which the result reports.
  });
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}
