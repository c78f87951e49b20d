// Lint for the whole TypeScript tree: product (ingester/, dispatcher/, shared/, cli/) and tooling
// (test/, bench/, demo/, scripts/). Type-aware: the rules that matter most here (a promise nobody
// awaits, a promise handed to a caller that ignores it) need the type checker.
// What each rule protects: docs/development-checks.md.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const TOOLING = ['test/**', 'bench/**', 'demo/**', 'scripts/**'];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**'] },
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': ['error', {
        // node:test's describe()/it() return a promise the runner itself tracks and reports;
        // awaiting them at the top of a file would change nothing.
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it'] }],
      }],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      // `{ dropped: _, ...rest } = value` is how a key is left out of a copy.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
      // A closure declared before the value it reads exists (a server's listener that needs the
      // server's owner) cannot be const.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    // Only the config loader reads the environment: every setting then has one name, one
    // validation and one place in the generated docs.
    files: ['ingester/**', 'dispatcher/**', 'shared/**', 'cli/**'],
    ignores: ['shared/config/load.ts'],
    rules: {
      'no-restricted-properties': ['error', {
        object: 'process',
        property: 'env',
        message: 'Only shared/config/load.ts reads process.env: add a setting to the config schema instead.',
      }],
    },
  },
  {
    // Tooling, not product: tests, benchmarks, the demo and scripts read process.env for their
    // own knobs (timeouts scale, bench sizes, paths) and set it for the processes they start.
    files: TOOLING,
    rules: {
      // Test fakes implement the product's async interfaces; `async` without an await is the
      // shortest honest way to return a promise from a stub.
      '@typescript-eslint/require-await': 'off',
      // Tests stringify loosely typed JSON from the wire to compare it; a wrong shape shows up
      // as a failed assertion, which is what a test is for.
      '@typescript-eslint/no-base-to-string': 'off',
      // Failure messages print header values (string | string[] | undefined) as they came.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowArray: true, allowNullish: true, allowNumber: true, allowBoolean: true }],
    },
  },
  {
    // The tools' own config files are plain JavaScript outside tsconfig.json: lint them without
    // type information.
    files: ['eslint.config.js', '.dependency-cruiser.cjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['.dependency-cruiser.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable' } },
  },
);
