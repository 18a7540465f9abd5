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
      // Many async functions implement a Promise-returning interface (payload codecs, Fastify hooks,
      // knex migration sources) without awaiting anything themselves; the rule would force wrappers.
      '@typescript-eslint/require-await': 'off',
      // Input checks reject control characters on purpose (names, references, headers).
      'no-control-regex': 'off',
    },
  },
  {
    // Small files and functions in product code (tests are exempt: a scenario reads top to bottom).
    // Migrations are exempt: a schema reads best as one list of tables.
    files: ['workflows/**/*.ts', 'activities/**/*.ts', 'workers/**/*.ts', 'src/**/*.ts', 'scripts/**/*.ts', 'bench/**/*.ts'],
    rules: {
      'max-lines': ['error', { max: 400, skipBlankLines: false, skipComments: false }],
      'max-lines-per-function': ['error', { max: 80, skipBlankLines: false, skipComments: false, IIFEs: true }],
    },
  },
  {
    // Tests and the benchmark assert on parsed JSON bodies, mail and workflow results whose shape is
    // the thing under test; typing every response only to read one field adds noise, not safety.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
      // Failure messages and fake fetch bodies stringify whatever they were handed.
      '@typescript-eslint/no-base-to-string': 'off',
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
