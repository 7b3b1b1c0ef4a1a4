import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, parseAllDocuments } from 'yaml';

// Readers for the deployment files (compose.yaml, the Dockerfiles and the
// Kubernetes manifests), shared by test/compose-config.test.ts. They parse
// the files as the tools would and keep only the fields the checks read.

export const repositoryRoot = fileURLToPath(new URL('..', import.meta.url));

export function readRepositoryFile(path: string): string {
  return readFileSync(join(repositoryRoot, path), 'utf8');
}

export function repositoryFileExists(path: string): boolean {
  return existsSync(join(repositoryRoot, path));
}

export type Environment = Record<string, string>;

export interface ComposeSecretMount {
  source: string;
  target?: string;
}

export interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string | number | boolean>;
  volumes?: string[];
  secrets?: (string | ComposeSecretMount)[];
  ports?: string[];
  networks?: Record<string, { aliases?: string[] } | null>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  privileged?: boolean;
  deploy?: { replicas?: number };
  scale?: number;
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
  secrets?: Record<string, { file: string }>;
}

/** Parses compose.yaml with merge keys (`<<`), as docker-compose does. */
export function readComposeFile(): ComposeFile {
  return parseYaml(readRepositoryFile('compose.yaml'), { merge: true }) as ComposeFile;
}

/** Returns a service's environment with every value as the string the container receives. */
export function environmentOf(service: ComposeService): Environment {
  return Object.fromEntries(Object.entries(service.environment ?? {}).map(([name, value]) => [name, String(value)]));
}

/** Splits `host:port` and returns both parts. */
export function splitAddress(address: string): { host: string; port: number } {
  const separator = address.lastIndexOf(':');
  return { host: address.slice(0, separator), port: Number(address.slice(separator + 1)) };
}

/** Returns the argument list of a Dockerfile's last CMD in exec form. */
export function dockerfileCommand(dockerfile: string): string[] {
  const lines = readRepositoryFile(dockerfile).split('\n').filter((line) => line.startsWith('CMD '));
  const last = lines.at(-1);
  if (last === undefined) throw new Error(`${dockerfile} has no CMD`);
  return JSON.parse(last.slice('CMD '.length)) as string[];
}

/** Returns the TypeScript source of the module a Dockerfile's CMD starts (`node dist/<path>.js`, compiled from `<path>.ts`). */
export function dockerfileEntry(dockerfile: string): string {
  const command = dockerfileCommand(dockerfile);
  const entry = command.find((argument) => /^dist\/.+\.js$/.test(argument));
  if (entry === undefined) throw new Error(`the CMD of ${dockerfile} starts no compiled module under dist/: ${command.join(' ')}`);
  return entry.slice('dist/'.length).replace(/\.js$/, '.ts');
}

const relativeImport = /(?:from\s+|import\s*\(\s*|import\s+)'(\.{1,2}\/[^']+)'/g;
// A variable name in a string literal or after `env.`. Names without an
// underscore are too generic to tell apart from other strings, so they are left out.
const variableName = /(?:env\.|\benv\[\s*['"`]|['"`])([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\b/g;

/**
 * Collects the environment variable names that the program starting at
 * `entry` can read: names in string literals or after `env.` in every
 * repository file it imports, directly or not. Generated code under gen/
 * reads none and is left out.
 */
export function variablesReadBy(entry: string): Set<string> {
  const names = new Set<string>();
  const seen = new Set<string>();
  const pending = [resolve(repositoryRoot, entry)];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    for (const match of source.matchAll(variableName)) names.add(match[1]!);
    for (const match of source.matchAll(relativeImport)) {
      const target = resolve(dirname(file), match[1]!.replace(/\.js$/, '.ts'));
      if (relative(repositoryRoot, target).startsWith('gen/') || !target.endsWith('.ts')) continue;
      if (existsSync(target)) pending.push(target);
    }
  }
  return names;
}

// Kubernetes objects: only the fields the checks read.
export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { configMapKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } };
}

export interface Container {
  name: string;
  image: string;
  command?: string[];
  env?: EnvVar[];
  ports?: { name?: string; containerPort: number }[];
  securityContext?: { privileged?: boolean; runAsNonRoot?: boolean };
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  livenessProbe?: { httpGet?: { path: string; port: string | number }; tcpSocket?: { port: string | number } };
}

export interface PodSpec {
  containers: Container[];
  securityContext?: { runAsNonRoot?: boolean; fsGroup?: number };
  volumes?: { name: string; secret?: { secretName: string }; configMap?: { name: string } }[];
}

export interface KubernetesObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: {
    replicas?: number;
    serviceName?: string;
    clusterIP?: string;
    selector?: { matchLabels?: Record<string, string> } & Record<string, unknown>;
    ports?: { name?: string; port: number; targetPort?: string | number }[];
    template?: { metadata: { labels: Record<string, string> }; spec: PodSpec };
    scaleTargetRef?: { name: string };
    triggers?: { type: string; metadata: Record<string, string>; authenticationRef?: { name: string } }[];
    secretTargetRef?: { parameter: string; name: string; key: string }[];
  };
  data?: Record<string, string>;
}

export interface Kustomization {
  namespace?: string;
  resources: string[];
  images?: { name: string; newName?: string; newTag?: string }[];
}

export const kubernetesFolder = 'deploy/kubernetes';

export function readKustomization(): Kustomization {
  return parseYaml(readRepositoryFile(`${kubernetesFolder}/kustomization.yaml`)) as Kustomization;
}

/** Parses every document of a manifest file and throws on a YAML error. */
export function readManifest(file: string): KubernetesObject[] {
  const documents = parseAllDocuments(readRepositoryFile(`${kubernetesFolder}/${file}`));
  if (!Array.isArray(documents)) throw new Error(`${file} is empty`);
  return documents.map((document) => {
    if (document.errors.length > 0) throw new Error(`${file}: ${document.errors[0]!.message}`);
    return document.toJS() as KubernetesObject;
  });
}
