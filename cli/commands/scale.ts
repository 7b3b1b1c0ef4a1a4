import { ListScaleEventsResponse, ScaleResponse } from '../../gen/faas/observer/v1/observer_service.js';
import type { ScaleInvocation } from '../args.js';
import { ExitCode } from '../exit-codes.js';
import { writeAll } from '../io.js';
import { formatJson } from '../output.js';
import type { CommandContext } from './context.js';

/** Prints the autoscaler's latest decision and its recent changes. */
export async function runScale(invocation: ScaleInvocation, context: CommandContext): Promise<number> {
  const { client, io, signal } = context;
  const decision = await client.scale({ signal });
  const { events } = await client.scaleEvents(invocation.events, { signal });

  if (invocation.json) {
    const text = formatJson({ decision: ScaleResponse.toJSON(decision), ...(ListScaleEventsResponse.toJSON({ events }) as object) });
    await writeAll(io.stdout, text, signal);
    return ExitCode.Success;
  }

  const metrics = decision.metrics;
  const lines = [
    `desired workers: ${decision.desiredWorkers}${decision.panic ? ' (scaled up at once: demand is twice the capacity)' : ''}`,
    `current workers: ${decision.currentWorkers}`,
    `needed now:      ${decision.neededWorkers} of ${decision.slotsPerWorker} slots each`,
    `queue:           ${metrics?.pending ?? 0} pending, ${metrics?.ackPending ?? 0} in flight, ${metrics?.redelivered ?? 0} redelivered`,
    `reason:          ${decision.reason}`,
    `decided:         ${decision.decidedAt?.toISOString() ?? '-'}`,
    '',
    events.length === 0 ? 'no scaling changes yet' : 'recent changes:',
    ...events.map((event) => `  ${event.decidedAt?.toISOString() ?? '-'}  ${event.fromWorkers} -> ${event.toWorkers}  ${event.reason}`),
  ];
  await writeAll(io.stdout, `${lines.join('\n')}\n`, signal);
  return ExitCode.Success;
}
