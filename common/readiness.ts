import type { HealthImplementation } from 'grpc-health-check';

/**
 * Readiness of one service, made of named conditions such as "nats" or
 * "scheduler". The service is ready while no condition fails. Changes go to
 * the grpc.health.v1 service (for the overall status and each listed gRPC
 * service) and to the `/healthz` endpoint.
 */
export class Readiness {
  private readonly failing = new Map<string, string>();
  private readonly healths: { health: HealthImplementation; services: string[] }[] = [];

  /** Reports through `health` for the empty name and each of `services`. */
  attach(health: HealthImplementation, services: string[]): void {
    this.healths.push({ health, services });
    this.publish();
  }

  /** Marks `condition` as met, or as failing with a reason for operators. */
  set(condition: string, ok: boolean, reason = ''): void {
    const wasReady = this.ready;
    if (ok) this.failing.delete(condition);
    else this.failing.set(condition, reason || `${condition} is not ready`);
    if (this.ready !== wasReady) this.publish();
  }

  get ready(): boolean {
    return this.failing.size === 0;
  }

  /** Reasons of the failing conditions, by condition name. */
  problems(): Record<string, string> {
    return Object.fromEntries(this.failing);
  }

  private publish(): void {
    const status = this.ready ? 'SERVING' : 'NOT_SERVING';
    for (const { health, services } of this.healths) {
      health.setStatus('', status);
      for (const service of services) health.setStatus(service, status);
    }
  }
}
