/**
 * deploy/kubernetes read the way `kubectl apply -k` would, without a cluster:
 * every YAML document of every file, the kustomizations, and validation of
 * each resource against the Kubernetes API schemas of the kubernetes-models
 * package, including fields those schemas do not know (a misspelt
 * `readinesProbe`), which would otherwise show only once applied to a cluster.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { fileURLToPath } from 'node:url';
import { ConfigMap, Namespace, Secret, Service } from 'kubernetes-models/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { parseAllDocuments } from 'yaml';

// Compiled, this file is <repo>/dist/test/helpers/kubernetes-manifests.js.
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const KUBERNETES_DIR = join(REPO_ROOT, 'deploy/kubernetes');

export interface YamlFile {
  /** Path from deploy/kubernetes. */
  file: string;
  documents: unknown[];
}

function parseDocuments(file: string, text: string, version: '1.1' | '1.2'): unknown[] {
  const parsed = parseAllDocuments(text, { version });
  if (!Array.isArray(parsed)) throw new Error(`${file}: not YAML documents`);
  return parsed
    .map((document) => {
      const problems = [...document.errors, ...document.warnings];
      if (problems.length > 0) throw new Error(`${file}: ${problems.map((problem) => problem.message).join('; ')}`);
      return document.toJS() as unknown;
    })
    .filter((document) => document !== null);
}

/**
 * Every .yaml file under deploy/kubernetes, each document parsed; a syntax
 * error or warning throws, naming the file, and so does a scalar that YAML
 * 1.1 (kubectl's parser) reads otherwise than YAML 1.2: `yes`, `on` or
 * `0440` unquoted.
 */
export function yamlFiles(): YamlFile[] {
  return readdirSync(KUBERNETES_DIR, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.yaml'))
    .map((entry) => {
      const path = join(entry.parentPath, entry.name);
      const file = relative(KUBERNETES_DIR, path);
      const text = readFileSync(path, 'utf8');
      const documents = parseDocuments(file, text, '1.2');
      if (!isDeepStrictEqual(documents, parseDocuments(file, text, '1.1'))) throw new Error(`${file}: YAML 1.1 (kubectl) reads a value otherwise: quote it`);
      return { file, documents };
    })
    .sort((a, b) => a.file.localeCompare(b.file));
}

type Validatable = { validate(): void };

/** The models of the kinds the manifests may use; any other kind is a mistake or needs adding here. */
const MODELS: Record<string, (data: never) => Validatable> = {
  'v1/Namespace': (data) => new Namespace(data),
  'v1/ConfigMap': (data) => new ConfigMap(data),
  'v1/Secret': (data) => new Secret(data),
  'v1/Service': (data) => new Service(data),
  'apps/v1/Deployment': (data) => new Deployment(data),
  'apps/v1/StatefulSet': (data) => new StatefulSet(data),
  'policy/v1/PodDisruptionBudget': (data) => new PodDisruptionBudget(data),
};

export function isModelled(manifest: object): boolean {
  return modelOf(manifest) !== undefined;
}

interface SchemaError {
  instancePath: string;
  message?: string;
}

function modelOf(manifest: object): ((data: never) => Validatable) | undefined {
  const { apiVersion, kind } = manifest as { apiVersion?: unknown; kind?: unknown };
  return MODELS[`${String(apiVersion)}/${String(kind)}`];
}

function schemaErrors(model: (data: never) => Validatable, data: object): SchemaError[] {
  try {
    model(data as never).validate();
    return [];
  } catch (error) {
    const errors = (error as { errors?: SchemaError[] }).errors;
    if (!errors) throw error;
    return errors;
  }
}

/** What the API schema says is wrong with the manifest, as `<JSON pointer> <message>`. */
export function schemaProblems(manifest: object): string[] {
  const model = modelOf(manifest);
  if (!model) return ['/ is not a kind with a model'];
  return schemaErrors(model, manifest).map(({ instancePath, message }) => `${instancePath || '/'} ${message ?? 'is invalid'}`);
}

const escapePointer = (key: string) => key.replaceAll('~', '~0').replaceAll('/', '~1');

/**
 * Fields of the manifest that the API schema does not know. The compiled
 * schemas ignore unknown properties, so each key is probed instead: its value
 * is replaced by one no schema accepts (a symbol) and the key is known only
 * if validation then fails at that key. Keys of maps (labels, data) are
 * known this way too, since their values are typed. Inside an unknown key
 * nothing more is reported.
 */
export function unknownFields(manifest: object): string[] {
  const model = modelOf(manifest);
  if (!model) return ['/'];
  const unknown: string[] = [];
  const walk = (value: unknown, path: Array<string | number>): void => {
    if (Array.isArray(value)) {
      value.forEach((item, index) => walk(item, [...path, index]));
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    for (const [key, inner] of Object.entries(value)) {
      const probe = structuredClone(manifest) as Record<string | number, unknown>;
      let parent = probe;
      for (const step of path) parent = parent[step] as Record<string | number, unknown>;
      parent[key] = Symbol('probe');
      const pointer = `/${[...path, key].map((step) => escapePointer(String(step))).join('/')}`;
      const known = schemaErrors(model, probe).some(({ instancePath }) => instancePath === pointer || instancePath.startsWith(`${pointer}/`));
      if (known) walk(inner, [...path, key]);
      else unknown.push(pointer);
    }
  };
  walk(manifest, []);
  return unknown;
}
