import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import type { Logger } from '../../common/logger.js';

/** Annotation by which a ReplicaSet picks the pods to delete first (lowest cost first). */
export const podDeletionCostAnnotation = 'controller.kubernetes.io/pod-deletion-cost';

export interface PodIdentity {
  /** Base URL of the Kubernetes API, such as https://10.0.0.1:443. */
  apiUrl: string;
  namespace: string;
  podName: string;
  token: string;
  ca: Buffer;
}

const serviceAccountFolder = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * Finds the pod this worker runs in: the API address from the variables
 * Kubernetes sets, the pod's name and namespace from POD_NAME and
 * POD_NAMESPACE (the downward API), and the service account's token and CA.
 * Returns undefined outside Kubernetes.
 */
export async function findPod(env: Record<string, string | undefined>, folder = serviceAccountFolder): Promise<PodIdentity | undefined> {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host || !env.POD_NAME || !env.POD_NAMESPACE) return undefined;
  try {
    const [token, ca] = await Promise.all([readFile(`${folder}/token`, 'utf8'), readFile(`${folder}/ca.crt`)]);
    const hostPart = host.includes(':') ? `[${host}]` : host;
    return { apiUrl: `https://${hostPart}:${port}`, namespace: env.POD_NAMESPACE, podName: env.POD_NAME, token: token.trim(), ca };
  } catch {
    return undefined;
  }
}

/**
 * Keeps the pod's deletion cost equal to the number of jobs the worker runs,
 * so a scale-in deletes idle workers before busy ones. Updates are sent one
 * at a time, and only the latest value is sent after a slow one.
 */
export class PodDeletionCost {
  private sending = false;
  private pending: number | undefined;
  private lastSent: number | undefined;

  constructor(
    private readonly pod: PodIdentity,
    private readonly log: Logger,
  ) {}

  set(runningJobs: number): void {
    if (runningJobs === this.lastSent && !this.sending) return;
    this.pending = runningJobs;
    if (!this.sending) void this.flush();
  }

  private async flush(): Promise<void> {
    this.sending = true;
    while (this.pending !== undefined) {
      const value = this.pending;
      this.pending = undefined;
      if (value === this.lastSent) continue;
      try {
        await this.patch(value);
        this.lastSent = value;
      } catch (error) {
        this.log.warn({ err: error, pod: this.pod.podName }, 'failed to update the pod deletion cost; scale-in may pick a busy worker');
      }
    }
    this.sending = false;
  }

  private patch(value: number): Promise<void> {
    const body = JSON.stringify({ metadata: { annotations: { [podDeletionCostAnnotation]: String(value) } } });
    const url = new URL(`/api/v1/namespaces/${encodeURIComponent(this.pod.namespace)}/pods/${encodeURIComponent(this.pod.podName)}`, this.pod.apiUrl);
    return new Promise((resolve, reject) => {
      const call = request(
        url,
        {
          method: 'PATCH',
          ca: this.pod.ca,
          headers: {
            authorization: `Bearer ${this.pod.token}`,
            'content-type': 'application/merge-patch+json',
            'content-length': Buffer.byteLength(body),
          },
          timeout: 5_000,
        },
        (response) => {
          response.resume();
          response.on('end', () => {
            const status = response.statusCode ?? 0;
            if (status >= 200 && status < 300) resolve();
            else reject(new Error(`the Kubernetes API returned HTTP ${status}`));
          });
        },
      );
      call.on('timeout', () => call.destroy(new Error('the Kubernetes API did not respond within 5 s')));
      call.on('error', reject);
      call.end(body);
    });
  }
}
