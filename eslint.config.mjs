// Lint: typescript-eslint with type information, over all TypeScript the project keeps.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const NODE_ONLY = [
  'knex',
  'pg',
  'nodemailer',
  'fs',
  'path',
  'crypto',
  'child_process',
  'os',
  'net',
  'http',
  'https',
  'stream',
  'util',
  'zlib',
  'worker_threads',
];

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.data/', 'coverage/', '**/*.js', '**/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Workflow code is replayed deterministically inside the worker's sandbox: no I/O, no Node built-ins.
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: NODE_ONLY.flatMap((name) => [
            { name, message: 'workflow code must not do I/O: call an activity' },
            { name: `node:${name}`, message: 'workflow code must not use Node built-ins' },
          ]),
          patterns: [{ group: ['node:*'], message: 'workflow code must not use Node built-ins' }],
        },
      ],
    },
  },
);
