/**
 * deploy/kubernetes checked without a cluster: every resource against the
 * Kubernetes API schemas (kubernetes-models), the kustomizations against the
 * files, every variable against the schema of the process that gets it, and
 * what docs/kubernetes.md promises (secrets as files, probes on the metrics
 * port, non-root read-only pods, Redis with AOF and noeviction). A manifest
 * mistake otherwise shows only once applied to a cluster.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { IPodTemplateSpec, IContainer } from 'kubernetes-models/v1';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { loadBoardConfig, loadDispatcherConfig } from '../../dispatcher/config.js';
import { loadIngesterConfig } from '../../ingester/config.js';
import { ConfigError, type Environment } from '../../shared/config/load.js';
import { ConnectorSection } from '../../shared/config/schema.js';
import { repoFile } from '../helpers/docs.js';
import { KUBERNETES_DIR, isModelled, schemaProblems, unknownFields, yamlFiles } from '../helpers/kubernetes-manifests.js';
import { processVariables, readsVariable, type ProcessName } from '../helpers/process-variables.js';

const KustomizationSchema = z.strictObject({
  apiVersion: z.literal('kustomize.config.k8s.io/v1beta1'),
  kind: z.literal('Kustomization'),
  namespace: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/),
  resources: z.array(z.string()).min(1),
  components: z.array(z.string()).optional(),
  images: z.array(z.strictObject({ name: z.string(), newName: z.string(), newTag: z.string() })).min(1),
});
const ComponentSchema = z.strictObject({
  apiVersion: z.literal('kustomize.config.k8s.io/v1alpha1'),
  kind: z.literal('Component'),
  resources: z.array(z.string()).min(1),
});

interface Resource {
  file: string;
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

interface Workload extends Resource {
  spec: { replicas?: number; selector: { matchLabels: Record<string, string> }; template: IPodTemplateSpec };
}

const files = yamlFiles();
const isKustomization = (file: string) => basename(file) === 'kustomization.yaml';
const resources: Resource[] = files
  .filter(({ file }) => !isKustomization(file))
  .flatMap(({ file, documents }) => documents.map((document) => ({ ...(document as Omit<Resource, 'file'>), file })));
/** A resource as the API server gets it (without the file it came from). */
const body = ({ file: _file, ...resource }: Resource) => resource;
const kustomizationText = repoFile('deploy/kubernetes/kustomization.yaml');
const kustomization = KustomizationSchema.parse(parseYaml(kustomizationText));

const ofKind = <T extends Resource = Resource>(kind: string) => resources.filter((resource) => resource.kind === kind) as T[];
const workloads = [...ofKind<Workload>('Deployment'), ...ofKind<Workload>('StatefulSet')];
const named = (kind: string, name: string) => resources.find((resource) => resource.kind === kind && resource.metadata.name === name);
const PLACEHOLDER = 'ChangeMe';

/** The product process a container runs, from its image and command; undefined for Redis. */
function processOf(container: IContainer): ProcessName | undefined {
  if (container.image === 'opencti-webhook-ingester') return 'ingester';
  if (container.image !== 'opencti-webhook-dispatcher') return undefined;
  return container.command?.includes('dist/dispatcher/board/main.js') ? 'board' : 'dispatcher';
}

interface ProductContainer {
  workload: Workload;
  container: IContainer;
  process: ProcessName;
}

const productContainers: ProductContainer[] = workloads.flatMap((workload) =>
  (workload.spec.template.spec?.containers ?? []).flatMap((container) => {
    const process = processOf(container);
    return process ? [{ workload, container, process }] : [];
  }),
);
const containerOf = (process: ProcessName) => productContainers.find((entry) => entry.process === process)!;

/** The container's environment: its ConfigMaps' keys in order, then `env`; a key given twice or a missing ConfigMap is a problem. */
function environmentOf(container: IContainer): { values: Map<string, string>; problems: string[] } {
  const values = new Map<string, string>();
  const problems: string[] = [];
  const set = (name: string, value: string, from: string) => {
    if (values.has(name)) problems.push(`${name} is set twice (again by ${from})`);
    values.set(name, value);
  };
  for (const source of container.envFrom ?? []) {
    if (source.secretRef) problems.push(`envFrom secretRef ${source.secretRef.name}: secrets are mounted as files`);
    const name = source.configMapRef?.name;
    if (!name) continue;
    const configMap = named('ConfigMap', name);
    if (!configMap) problems.push(`ConfigMap ${name} is not in the manifests`);
    for (const [key, value] of Object.entries(configMap?.data ?? {})) set(key, value, `ConfigMap ${name}`);
  }
  for (const variable of container.env ?? []) {
    if (variable.valueFrom) problems.push(`${variable.name} comes from valueFrom: give values in a ConfigMap, secrets as files`);
    set(variable.name, variable.value ?? '', 'env');
  }
  return { values, problems };
}

const secret = ofKind('Secret')[0];
const secretValues = secret?.stringData ?? {};

/** `<NAME>_FILE` variables of the container, each with the Secret key its path leads to (undefined when it leads nowhere). */
function secretFiles(entry: ProductContainer): Array<{ variable: string; key: string | undefined }> {
  const volumes = entry.workload.spec.template.spec?.volumes ?? [];
  const files = new Map<string, string>();
  for (const mount of entry.container.volumeMounts ?? []) {
    const volume = volumes.find(({ name }) => name === mount.name);
    if (volume?.secret?.secretName !== secret?.metadata.name) continue;
    for (const item of volume?.secret?.items ?? []) files.set(`${mount.mountPath}/${item.path}`, item.key);
  }
  return [...environmentOf(entry.container).values]
    .filter(([name]) => name.endsWith('_FILE'))
    .map(([variable, path]) => ({ variable, key: files.get(path) }));
}

/** Values an operator fills in for the placeholders, and the board's password (empty in the template). */
const FILLED_IN: Record<string, string> = {
  CONNECTOR_ID: '0d5c3b8e-2f6a-4c1d-9e7b-3a8f1c2d4e5f',
  WEBHOOK_URL: 'https://soar.example.com/webhook',
  OPENCTI_URL: 'http://opencti-server.opencti.svc:80',
  CONNECTOR_LIVE_STREAM_ID: 'live',
  OPENCTI_TOKEN: 'a-real-opencti-token',
  BULL_BOARD_PASSWORD: 'a-real-board-password',
};

/**
 * The environment the process sees, with each `_FILE` resolved to the
 * Secret's value (an empty one counts as unset, as an empty variable does;
 * resolving files is the config loader's own tested job).
 */
function loaderEnvironment(entry: ProductContainer, filledIn: boolean): Environment {
  const env: Record<string, string> = {};
  for (const [name, value] of environmentOf(entry.container).values) if (!name.endsWith('_FILE')) env[name] = value;
  for (const { variable, key } of secretFiles(entry)) env[variable.slice(0, -'_FILE'.length)] = key === undefined ? '' : (secretValues[key] ?? '');
  if (!filledIn) return env;
  for (const [name, value] of Object.entries(env)) {
    if (value === PLACEHOLDER || (value === '' && name in FILLED_IN)) {
      const filled = FILLED_IN[name];
      assert.ok(filled !== undefined, `${name} is a placeholder this test does not know how to fill in: add it to FILLED_IN`);
      env[name] = filled;
    }
  }
  return env;
}

const LOADERS: Record<ProcessName, (env: Environment) => unknown> = {
  ingester: (env) => loadIngesterConfig({ env }),
  dispatcher: (env) => loadDispatcherConfig({ env }),
  board: (env) => loadBoardConfig({ env }),
};

function quantity(value: unknown): number {
  const units: Record<string, number> = { '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30 };
  const match = /^(\d+(?:\.\d+)?)(m|k|M|G|Ki|Mi|Gi)?$/.exec(String(value));
  assert.ok(match, `${String(value)} is not a quantity this test reads`);
  return Number(match[1]) * units[match[2] ?? '']!;
}

function matches(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  return Object.keys(selector ?? {}).length > 0 && Object.entries(selector ?? {}).every(([key, value]) => labels?.[key] === value);
}

describe('deploy/kubernetes', () => {
  it('has kustomizations of the shape `kubectl apply -k` reads, and resources of known kinds only', () => {
    for (const { file, documents } of files.filter(({ file }) => isKustomization(file))) {
      assert.equal(documents.length, 1, file);
      const schema = file === 'kustomization.yaml' ? KustomizationSchema : ComponentSchema;
      const parsed = schema.safeParse(documents[0]);
      assert.ok(parsed.success, `${file}: ${parsed.error?.message}`);
    }
    for (const resource of resources) assert.ok(isModelled(resource), `${resource.file}: ${resource.apiVersion} ${resource.kind} is not a kind this test validates`);
  });

  it('lists every manifest file in its kustomization, once, and only files that exist', () => {
    for (const { file } of files.filter(({ file }) => isKustomization(file))) {
      const directory = join(KUBERNETES_DIR, dirname(file));
      const listed = (parseYaml(repoFile(`deploy/kubernetes/${file}`)) as { resources: string[] }).resources;
      const present = readdirSync(directory).filter((name) => name.endsWith('.yaml') && name !== 'kustomization.yaml');
      assert.deepEqual([...listed].sort(), [...new Set(listed)].sort(), `${file} lists a file twice`);
      assert.deepEqual([...listed].sort(), present.sort(), `${file} must list exactly the manifests of its folder`);
    }
  });

  it('offers every subfolder as a component that uncommenting `components:` adds', () => {
    const subfolders = readdirSync(KUBERNETES_DIR, { withFileTypes: true }).filter((entry) => entry.isDirectory()).map(({ name }) => name);
    assert.deepEqual(subfolders, ['board']);
    for (const folder of subfolders) {
      const component = ComponentSchema.safeParse(parseYaml(repoFile(`deploy/kubernetes/${folder}/kustomization.yaml`)));
      assert.ok(component.success, `${folder}/kustomization.yaml must be a Component`);
    }
    const uncommented = KustomizationSchema.parse(parseYaml(kustomizationText.replace(/^# (components:| {2}- )/gm, '$1')));
    assert.deepEqual(uncommented.components, subfolders);
    assert.equal(kustomization.components, undefined, 'the board is optional: shipped commented out');
  });

  it('validates every resource against the Kubernetes API schemas, with no field they do not know', () => {
    for (const resource of resources) {
      const where = `${resource.file}: ${resource.kind} ${resource.metadata.name}`;
      assert.deepEqual(schemaProblems(body(resource)), [], where);
      assert.deepEqual(unknownFields(body(resource)), [], `${where} has fields the API does not know`);
    }
  });

  it('catches a misspelt field and a wrong type (the validation can fail)', () => {
    const dispatcher = structuredClone(body(containerOf('dispatcher').workload)) as unknown as Workload;
    const container = dispatcher.spec.template.spec!.containers[0] as unknown as Record<string, unknown>;
    container.readinesProbe = container.readinessProbe;
    delete container.readinessProbe;
    assert.deepEqual(unknownFields(dispatcher), ['/spec/template/spec/containers/0/readinesProbe']);
    (dispatcher.spec as Record<string, unknown>).replicas = 'three';
    assert.deepEqual(schemaProblems(dispatcher), ['/spec/replicas must be integer']);
  });

  it('names resources once, leaves the namespace to the kustomization, and creates that namespace', () => {
    const names = resources.map((resource) => `${resource.kind}/${resource.metadata.name}`);
    assert.deepEqual(names, [...new Set(names)]);
    for (const resource of resources) assert.equal(resource.metadata.namespace, undefined, `${resource.file}: ${resource.kind} ${resource.metadata.name}`);
    assert.deepEqual(ofKind('Namespace').map((namespace) => namespace.metadata.name), [kustomization.namespace]);
  });

  it('uses only images of `images:`, ours tagged with the package version', () => {
    const version = (JSON.parse(repoFile('package.json')) as { version: string }).version;
    const used = new Set(workloads.flatMap((workload) => (workload.spec.template.spec?.containers ?? []).map(({ image }) => image)));
    assert.deepEqual([...used].sort(), kustomization.images.map(({ name }) => name).sort(), 'every container image is a bare name that `images:` sets, and every entry is used');
    for (const image of kustomization.images.filter(({ name }) => name.startsWith('opencti-webhook-'))) {
      assert.equal(image.newTag, version, `${image.name}: tag it with package.json's version`);
      assert.ok(image.newName.endsWith(image.name), `${image.name}: newName is <IMAGE_PREFIX>${image.name}`);
    }
  });

  it('selects its own pods: each workload its template, each PodDisruptionBudget and Service one workload', () => {
    for (const workload of workloads) {
      assert.ok(matches(workload.spec.selector.matchLabels, workload.spec.template.metadata?.labels), `${workload.kind} ${workload.metadata.name}`);
      const others = workloads.filter((other) => other !== workload && matches(workload.spec.selector.matchLabels, other.spec.template.metadata?.labels));
      assert.deepEqual(others, [], `${workload.metadata.name}'s selector also matches other pods`);
    }
    const selecting = [
      ...ofKind('PodDisruptionBudget').map((pdb) => ({ resource: pdb, selector: (pdb.spec?.selector as { matchLabels?: Record<string, string> }).matchLabels })),
      ...ofKind('Service').map((service) => ({ resource: service, selector: service.spec?.selector as Record<string, string> })),
    ];
    for (const { resource, selector } of selecting) {
      const selected = workloads.filter((workload) => matches(selector, workload.spec.template.metadata?.labels));
      assert.equal(selected.length, 1, `${resource.kind} ${resource.metadata.name} selects ${selected.length} workloads`);
    }
  });

  it('runs the ingester, the dispatcher and the board with their images’ entry points', () => {
    assert.deepEqual(productContainers.map(({ process }) => process).sort(), ['board', 'dispatcher', 'ingester']);
    assert.equal(containerOf('ingester').container.command, undefined, 'the ingester image runs dist/ingester/main.js');
    assert.equal(containerOf('dispatcher').container.command, undefined, 'the dispatcher image runs dist/dispatcher/main.js');
    const entry = containerOf('board').container.command?.find((arg) => arg.endsWith('.js'));
    assert.ok(entry && existsSync(fileURLToPath(new URL(`../../../${entry}`, import.meta.url))), `${entry} is not built`);
  });

  it('gives each process only variables its configuration schema reads, each once', () => {
    for (const { process, container } of productContainers) {
      const { values, problems } = environmentOf(container);
      assert.deepEqual(problems, [], process);
      const variables = processVariables(process);
      const unknown = [...values.keys()].filter((name) => !readsVariable(variables, name));
      assert.deepEqual(unknown, [], `${process} gets variables it does not read`);
    }
  });

  it('passes secrets only as mounted files of the Secret (<VAR>_FILE), every key of it to some process', () => {
    assert.ok(secret, 'a Secret');
    const used = new Set<string>();
    for (const entry of productContainers) {
      const variables = processVariables(entry.process);
      for (const [name] of environmentOf(entry.container).values) {
        assert.ok(!variables.secrets.has(name), `${entry.process}: ${name} is a secret: pass it as ${name}_FILE`);
      }
      for (const { variable, key } of secretFiles(entry)) {
        assert.equal(key, variable.slice(0, -'_FILE'.length), `${entry.process}: ${variable} must lead to the mounted Secret key of its name`);
        assert.ok(key in secretValues, `${entry.process}: the Secret has no ${key}`);
        used.add(key);
      }
      for (const mount of entry.container.volumeMounts ?? []) assert.equal(mount.readOnly, true, `${entry.process}: ${mount.name}`);
    }
    assert.deepEqual(Object.keys(secretValues).sort(), [...used].sort(), 'every key of the Secret is passed to a process, and only those');
    assert.equal(secret.data, undefined, 'the template is stringData, readable and clearly placeholders');
  });

  it('probes /healthz and /readyz on the metrics port that the configuration enables, and Prometheus scrapes it', () => {
    for (const { process, container, workload } of productContainers) {
      const env = environmentOf(container).values;
      assert.match(env.get('METRICS_ENABLE') ?? '', /^true$/i, `${process}: METRICS_ENABLE`);
      const port = Number(env.get('METRICS_PORT') ?? 9113);
      assert.equal(container.ports?.find(({ name }) => name === 'metrics')?.containerPort, port, `${process}: a port named metrics`);
      const probes = { startupProbe: '/healthz', livenessProbe: '/healthz', readinessProbe: '/readyz' } as const;
      for (const [probe, path] of Object.entries(probes)) {
        const httpGet = container[probe as keyof typeof probes]?.httpGet;
        assert.equal(httpGet?.path, path, `${process}: ${probe}`);
        const target: number | undefined = typeof httpGet?.port === 'number' ? httpGet.port : container.ports?.find(({ name }) => name === httpGet?.port)?.containerPort;
        assert.equal(target, port, `${process}: ${probe} on the metrics port`);
      }
      assert.deepEqual(workload.spec.template.metadata?.annotations, { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(port), 'prometheus.io/path': '/metrics' }, process);
    }
  });

  it('runs every pod as a fixed non-root user, read-only, without privileges, service account token or service links', () => {
    for (const dockerfile of ['Dockerfile.ingester', 'Dockerfile.dispatcher']) assert.match(repoFile(dockerfile), /^USER node$/m, dockerfile);
    for (const workload of workloads) {
      const pod = workload.spec.template.spec!;
      const images = pod.containers.map(({ image }) => image);
      // `node` is uid 1000 in the node images; `redis` is 999 (group 1000) in redis:alpine.
      const uid = images.every((image) => image?.startsWith('opencti-webhook-')) ? 1000 : 999;
      assert.equal(pod.automountServiceAccountToken, false, workload.metadata.name);
      // Service links would add OPENCTI_WEBHOOK_<SERVICE>_* variables, named like settings.
      assert.equal(pod.enableServiceLinks, false, workload.metadata.name);
      assert.deepEqual(
        { runAsNonRoot: pod.securityContext?.runAsNonRoot, runAsUser: pod.securityContext?.runAsUser, seccomp: pod.securityContext?.seccompProfile?.type },
        { runAsNonRoot: true, runAsUser: uid, seccomp: 'RuntimeDefault' },
        workload.metadata.name,
      );
      for (const container of pod.containers) {
        const context = container.securityContext;
        assert.deepEqual(
          { allowPrivilegeEscalation: context?.allowPrivilegeEscalation, readOnlyRootFilesystem: context?.readOnlyRootFilesystem, drop: context?.capabilities?.drop },
          { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, drop: ['ALL'] },
          `${workload.metadata.name}/${container.name}`,
        );
      }
    }
  });

  it('gives every container CPU and memory requests and limits, requests within limits', () => {
    for (const workload of workloads) {
      for (const container of workload.spec.template.spec!.containers) {
        const { requests, limits } = container.resources ?? {};
        for (const resource of ['cpu', 'memory']) {
          const where = `${workload.metadata.name}/${container.name} ${resource}`;
          assert.ok(requests?.[resource] !== undefined && limits?.[resource] !== undefined, `${where}: request and limit`);
          assert.ok(quantity(requests[resource]) <= quantity(limits[resource]), `${where}: request above limit`);
        }
      }
    }
  });

  it('leaves each process more time to stop than CONNECTOR_SHUTDOWN_TIMEOUT_MS', () => {
    for (const { process, container, workload } of productContainers) {
      const shutdownMs = ConnectorSection.shape.shutdown_timeout_ms.parse(environmentOf(container).values.get('CONNECTOR_SHUTDOWN_TIMEOUT_MS'));
      const graceMs = (workload.spec.template.spec?.terminationGracePeriodSeconds ?? 30) * 1000;
      assert.ok(graceMs >= shutdownMs + 10_000, `${process}: terminationGracePeriodSeconds ${graceMs / 1000} s for a ${shutdownMs} ms shutdown`);
    }
  });

  it('runs two ingesters (leader and standby) and several dispatchers, each kept available by a PodDisruptionBudget', () => {
    const ingester = containerOf('ingester').workload;
    const dispatcher = containerOf('dispatcher').workload;
    assert.equal(ingester.spec.replicas, 2);
    assert.equal(dispatcher.spec.replicas, 3);
    const budgetOf = (workload: Workload) =>
      ofKind('PodDisruptionBudget').find((pdb) => matches((pdb.spec?.selector as { matchLabels: Record<string, string> }).matchLabels, workload.spec.template.metadata?.labels))?.spec;
    assert.equal(budgetOf(ingester)?.minAvailable, 1);
    assert.equal(budgetOf(dispatcher)?.maxUnavailable, 1);
  });

  it('runs Redis with AOF fsync’d every second, a maxmemory and noeviction, at the address REDIS_URL names', () => {
    const redis = ofKind<Workload>('StatefulSet').find((set) => set.metadata.name === 'opencti-webhook-redis');
    assert.ok(redis, 'the Redis StatefulSet');
    const args = redis.spec.template.spec!.containers[0]!.args ?? [];
    const option = (name: string) => args[args.indexOf(`--${name}`) + 1];
    assert.deepEqual(
      { appendonly: option('appendonly'), appendfsync: option('appendfsync'), policy: option('maxmemory-policy') },
      { appendonly: 'yes', appendfsync: 'everysec', policy: 'noeviction' },
    );
    assert.match(option('maxmemory') ?? '', /^\d+(?:mb|gb)$/);
    assert.ok((redis.spec as { volumeClaimTemplates?: unknown[] }).volumeClaimTemplates?.length, 'a persistent volume');
    const url = new URL(environmentOf(containerOf('ingester').container).values.get('REDIS_URL') ?? '');
    const service = named('Service', url.hostname);
    assert.ok(service, `REDIS_URL names ${url.hostname}, not a Service of the manifests`);
    assert.ok((service.spec?.ports as Array<{ port: number }>).some(({ port }) => port === Number(url.port)), 'REDIS_URL port');
  });

  it('gives each process a configuration its loader accepts once the placeholders are filled in', () => {
    for (const entry of productContainers) assert.doesNotThrow(() => LOADERS[entry.process](loaderEnvironment(entry, true)), entry.process);
  });

  it('refuses to start with a placeholder left, naming each one', () => {
    // The ingester and the board only check that WEBHOOK_URL is set; the dispatcher validates it.
    const presenceOnly: Record<ProcessName, string[]> = { ingester: ['WEBHOOK_URL'], dispatcher: [], board: ['WEBHOOK_URL'] };
    for (const entry of productContainers) {
      const env = loaderEnvironment(entry, false);
      const expected = Object.keys(FILLED_IN).filter((name) => name in env && !presenceOnly[entry.process].includes(name));
      let error: unknown;
      try {
        LOADERS[entry.process](env);
      } catch (caught) {
        error = caught;
      }
      assert.ok(error instanceof ConfigError, `${entry.process} starts with the placeholders`);
      assert.deepEqual(error.problems.map(({ variable }) => variable).sort(), expected.sort(), entry.process);
    }
  });
});
