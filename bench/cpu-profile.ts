import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Self time of one function or one code origin in a CPU profile. */
export interface SelfTime {
  name: string;
  ms: number;
  /** Share of the profile's busy time (idle excluded), 0 to 1. */
  share: number;
}

/** The costliest functions and code origins of one service's CPU profile. */
export interface ProfileSummary {
  service: string;
  file: string;
  busyMs: number;
  topFunctions: SelfTime[];
  topOrigins: SelfTime[];
}

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number } }>;
  samples: number[];
  timeDeltas: number[];
}

/**
 * Reads the V8 CPU profiles that bench/cpu-profile-hook.ts wrote to
 * `folder` and names each after the service whose pid is in its file name.
 * Returns the functions and code origins (an npm package, a project folder,
 * Node's internals) with the most self time.
 */
export async function summarizeProfiles(folder: string, servicesByPid: Map<number, string>, top = 10): Promise<ProfileSummary[]> {
  const files = (await readdir(folder).catch(() => [] as string[])).filter((file) => file.endsWith('.cpuprofile'));
  const summaries: ProfileSummary[] = [];
  for (const file of files) {
    const pid = Number(/^cpu-(\d+)\.cpuprofile$/.exec(file)?.[1]);
    const profile = JSON.parse(await readFile(join(folder, file), 'utf8')) as CpuProfile;
    summaries.push(summarizeProfile(servicesByPid.get(pid) ?? `pid ${pid}`, file, profile, top));
  }
  return summaries.sort((a, b) => a.service.localeCompare(b.service));
}

function summarizeProfile(service: string, file: string, profile: CpuProfile, top: number): ProfileSummary {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const byFunction = new Map<string, number>();
  const byOrigin = new Map<string, number>();
  let busyMicros = 0;
  profile.samples.forEach((nodeId, index) => {
    const frame = nodes.get(nodeId);
    const micros = profile.timeDeltas[index] ?? 0;
    if (!frame || frame.functionName === '(idle)') return;
    busyMicros += micros;
    const place = frame.url ? `${shortUrl(frame.url)}:${frame.lineNumber + 1}` : '';
    const name = `${frame.functionName || '(anonymous)'}${place ? ` ${place}` : ''}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + micros);
    const origin = originOf(frame.url, frame.functionName);
    byOrigin.set(origin, (byOrigin.get(origin) ?? 0) + micros);
  });
  const rank = (totals: Map<string, number>): SelfTime[] =>
    [...totals]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, micros]) => ({ name, ms: micros / 1000, share: busyMicros > 0 ? micros / busyMicros : 0 }));
  return { service, file, busyMs: busyMicros / 1000, topFunctions: rank(byFunction), topOrigins: rank(byOrigin) };
}

function shortUrl(url: string): string {
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  return path.startsWith(root) ? relative(root, path) : path;
}

/** Names where code comes from: an npm package, a project folder, Node's internals or a V8 pseudo-frame. */
function originOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return 'node internals';
  const path = shortUrl(url);
  const packageMatch = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (packageMatch) return packageMatch[1];
  return path.split('/').slice(0, 2).join('/');
}

/** Prints each summary as two short ranked lists. */
export function printProfiles(summaries: ProfileSummary[]): void {
  for (const summary of summaries) {
    console.log('');
    console.log(`CPU profile of ${summary.service}: ${(summary.busyMs / 1000).toFixed(1)} s busy (${summary.file})`);
    console.log('  self time by origin:');
    for (const item of summary.topOrigins) console.log(`    ${(item.share * 100).toFixed(1).padStart(5)} %  ${item.name}`);
    console.log('  self time by function:');
    for (const item of summary.topFunctions) console.log(`    ${(item.share * 100).toFixed(1).padStart(5)} %  ${item.name}`);
  }
}
