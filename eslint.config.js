// Lint: type-aware rules that the compiler does not check (floating promises), and the architecture's
// import boundaries (DESIGN.md "Dependencies point inward").
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'data/**', 'coverage/**', 'deploy/**'] },
  {
    files: ['**/*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      // node:test's describe/it/before/after return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': ['error', { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] }] }],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/await-thenable': 'error',
    },
  },
  {
    files: ['src/flood/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['**/http/**', '**/content/**', '**/tiers/**', '**/store/**', '**/cli/**', '**/config.ts'], message: 'flood/ is a standalone load generator: it imports nothing from the server.' },
      ] }],
    },
  },
  {
    files: ['src/content/**/*.ts', 'src/tiers/**/*.ts', 'src/store/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['**/http/**', '**/cli/**', '**/flood/**'], message: 'Dependencies point inward: content/, tiers/ and store/ know nothing of HTTP, the CLI or flood.' },
      ] }],
    },
  },
);
