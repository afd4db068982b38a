// Lint: type-aware rules that the compiler does not check (floating promises), and the architecture's
// import boundaries (../shared/DESIGN.md "Dependencies point inward"; the layers and what each may import:
// docs/design-notes.md "How to find your way").
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
        { group: ['**/http/**', '**/content/**', '**/tiers/**', '**/store/**', '**/bus/**', '**/cli/**', '**/lab/**', '**/config.ts', '**/app.ts', '**/cluster*.ts'], message: 'flood/ is a standalone load generator: it imports nothing from the server (common/ is shared).' },
      ] }],
    },
  },
  {
    files: ['src/http/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['**/tiers/**', '**/store/**', '**/bus/**', '**/origin/**', '**/flood/**', '**/cli/**', '**/lab/**'], message: 'http/ speaks only the service\'s language: it imports content/ (and common/), never the tiers, the store, the buses, the origin client or flood.' },
      ] }],
    },
  },
  {
    files: ['src/content/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['**/http/**', '**/cli/**', '**/flood/**', '**/lab/**'], message: 'Dependencies point inward: content/ knows nothing of HTTP, the CLI or flood.' },
        { group: ['**/origin/**'], message: 'content/ knows sources only by content/source.ts; the origin client is built by app.ts.' },
      ] }],
    },
  },
  {
    // The origin client is a source (content/source.ts) like the store: it knows content/'s types, not the edge.
    files: ['src/origin/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['**/http/**', '**/cli/**', '**/flood/**', '**/lab/**', '**/tiers/**', '**/store/**', '**/bus/**', '**/app.ts', '**/cluster*.ts'], message: 'origin/ is a source: it imports content/ (its types and rules) and libraries, nothing of the edge, the tiers or the store.' },
      ] }],
    },
  },
  {
    // content/'s vocabulary (record.ts, keys.ts, read-result.ts) is the one part of content/ the layers below
    // may import: the record, its key rules and what a read hands back. It imports nothing of the server itself.
    files: ['src/tiers/**/*.ts', 'src/store/**/*.ts', 'src/bus/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['**/http/**', '**/cli/**', '**/flood/**', '**/lab/**'], message: 'Dependencies point inward: tiers/, store/ and bus/ know nothing of HTTP, the CLI or flood.' },
        { group: ['**/content/**', '!**/content/record.ts', '!**/content/keys.ts', '!**/content/read-result.ts'], message: 'Below content/, only its vocabulary may be imported: content/record.ts, keys.ts, read-result.ts.' },
      ] }],
    },
  },
  {
    files: ['src/content/record.ts', 'src/content/keys.ts', 'src/content/read-result.ts', 'src/common/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { group: ['../*', './*', '!./record.ts'], message: 'The bottom layer (common/, content/\'s vocabulary) imports nothing of the project but the record.' },
      ] }],
    },
  },
);
