/**
 * Two projects: `unit` (pure pieces, no services) and `integration` (the real stack: a Temporal
 * dev server, Postgres and an SMTP server, started once by test/setup/global-setup.ts).
 */
const tsJest = ['ts-jest', { tsconfig: 'tsconfig.json' }];

/** @type {import('jest').Config} */
module.exports = {
  // Integration tests wait on real workflows; unit tests finish in milliseconds anyway.
  testTimeout: 60_000,
  reporters: ['default', '<rootDir>/test/setup/summary-reporter.js'],
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      transform: { '^.+\\.ts$': tsJest },
      testMatch: ['<rootDir>/test/unit/**/*.test.ts'],
    },
    {
      displayName: 'integration',
      testEnvironment: 'node',
      transform: { '^.+\\.ts$': tsJest },
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      globalSetup: '<rootDir>/test/setup/global-setup.ts',
      globalTeardown: '<rootDir>/test/setup/global-teardown.ts',
    },
  ],
};
