/**
 * Import boundaries, checked by `npm run lint` (dependency-cruiser). What each rule protects:
 * docs/development-checks.md.
 *
 * Product: ingester/ and dispatcher/ are the two processes, cli/ is the operator tool, shared/ is
 * what they have in common. Tooling: test/, bench/, demo/, scripts/.
 */
const PRODUCT = '^(ingester|dispatcher|shared|cli)/';
const TOOLING = '^(test|bench|demo|scripts)/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A cycle means neither module can be understood, loaded or tested without the other.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'ingester-not-dispatcher',
      severity: 'error',
      comment: 'The two processes deploy and scale apart; what both need lives in shared/.',
      from: { path: '^ingester/' },
      to: { path: '^dispatcher/' },
    },
    {
      name: 'dispatcher-not-ingester',
      severity: 'error',
      comment: 'The two processes deploy and scale apart; what both need lives in shared/.',
      from: { path: '^dispatcher/' },
      to: { path: '^ingester/' },
    },
    {
      name: 'shared-not-process',
      severity: 'error',
      comment: 'shared/ is used by every process: importing one of them would pull that process into the others.',
      from: { path: '^shared/' },
      to: { path: '^(ingester|dispatcher|cli)/' },
    },
    {
      name: 'cli-only-shared',
      severity: 'error',
      comment:
        'The CLI talks to the queue through the shared contract, never through a process\'s internals. ' +
        'Except `check` (cli/probes/): it must validate and connect exactly as each process would, so it ' +
        'uses their loaders and clients (both images ship all of dist/); it touches no queue.',
      from: { path: '^cli/', pathNot: '^cli/probes/' },
      to: { path: '^(ingester|dispatcher)/' },
    },
    {
      name: 'product-not-tooling',
      severity: 'error',
      comment: 'Tests, benchmarks, the demo and scripts are not shipped: product code that needed them would break in the image.',
      from: { path: PRODUCT },
      to: { path: TOOLING },
    },
    {
      name: 'demo-not-test',
      severity: 'error',
      comment: 'The demo is a newcomer\'s first command: it must run without the test suite. Tests, benchmarks and scripts may reuse demo/ (its throwaway Redis); product code may not (product-not-tooling).',
      from: { path: '^demo/' },
      to: { path: '^test/' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      comment: 'An import that resolves to nothing fails at run time (or names a package missing from package.json).',
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: 'product-not-to-dev-dep',
      severity: 'error',
      comment: 'The images install production dependencies only (npm ci --omit=dev): a devDependency in product code is missing there.',
      from: { path: PRODUCT },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'no-non-package-json',
      severity: 'error',
      comment: 'A package not in package.json works only by accident of what else is installed.',
      from: {},
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'] },
    },
    {
      name: 'no-deprecated-core',
      severity: 'error',
      comment: 'Deprecated Node core modules (punycode, domain, sys, …) are on their way out.',
      from: {},
      to: { dependencyTypes: ['core'], path: '^(punycode|domain|constants|sys|_linklist|_stream_wrap)$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^dist/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.d.ts'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
