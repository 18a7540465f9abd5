import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_VARIABLES, TEMPORAL_CONNECTION_VARIABLES } from '../../src/config';
import { ORDER_PHASES, WAITING_FOR } from '../../src/orders/order-lifecycle';
import { SEARCH_ATTRIBUTE_DEFINITIONS } from '../../src/temporal/search-attributes';

const readme = readFileSync(join(__dirname, '../../README.md'), 'utf8');
const ciRun = readFileSync(join(__dirname, '../../.ci/run'), 'utf8');

test('the README documents every configuration variable with its default', () => {
  for (const [name, { default: value }] of Object.entries(CONFIG_VARIABLES)) {
    expect(readme).toContain(`| \`${name}\` | \`${value}\` |`);
  }
});

test('the README documents every Temporal connection variable, as src/config-temporal.ts describes it', () => {
  for (const [name, meaning] of Object.entries(TEMPORAL_CONNECTION_VARIABLES)) expect(readme).toContain(`| \`${name}\` | ${meaning} |`);
});

test('the README names every search attribute', () => {
  for (const { name } of SEARCH_ATTRIBUTE_DEFINITIONS) expect(readme).toContain(`\`${name}\``);
});

test('CI runs the quick start test command and the stack command', () => {
  expect(readme).toMatch(/^npm test {2,}#/m);
  expect(readme).toMatch(/^npm start {2,}#/m);
  expect(ciRun).toMatch(/^npm test$/m);
  expect(ciRun).toMatch(/npm start -- --once$/m);
});

describe('Quick start', () => {
  const quickStart = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('\n## ', readme.indexOf('## Quick start') + 1));
  const devStack = readFileSync(join(__dirname, '../../src/dev/stack-summary.ts'), 'utf8');

  // The sample output must show the lines the stack script really prints, under the same labels.
  test.each([
    'Temporal UI',
    'All orders',
    'Held orders',
    'Sign in',
    'VA page',
    'Emails',
    'Database',
    'API',
    'OpenAPI',
    'Swagger UI',
    'Metrics',
  ])('shows the "%s" line that the stack script prints (src/dev/stack-summary.ts)', (label) => {
    expect(devStack).toContain(`\`  ${label.padEnd(14)}`);
    expect(quickStart).toMatch(new RegExp(`^  ${label} +\\S`, 'm'));
  });

  test('shows the API keys and a ready-to-paste booking and read-back with the partner key', () => {
    expect(quickStart).toMatch(/^ {4}operator {2,}lfk_[A-Za-z0-9_-]{43}$/m);
    expect(quickStart).toMatch(/^ {4}northwind-partners {2,}lfk_[A-Za-z0-9_-]{43}$/m);
    const partnerKey = /^ {4}northwind-partners {2,}(lfk_\S+)$/m.exec(quickStart)![1];
    expect(quickStart).toContain(`curl -sS -w '\\n' -X POST http://localhost:3000/v1/orders -H 'Authorization: Bearer ${partnerKey}'`);
    expect(quickStart).toMatch(
      new RegExp(`curl -sS -w '\\\\n' http://localhost:3000/v1/orders/[0-9a-f]{20} -H 'Authorization: Bearer ${partnerKey}'`),
    );
    const body = /-d '(\{.*\})'$/m.exec(quickStart)![1];
    expect(JSON.parse(body)).toMatchObject({
      externalReference: expect.stringMatching(/^TRY-/),
      assignment: { kind: 'smart_account', accountId: 'sa-acme', virtualAccountPath: 'Finance' },
    });
  });

  test('shows what the demo devices were told and the pool beyond its purchase (src/dev/demo-license-use.ts)', () => {
    for (const state of ['Authorized', 'Overage', 'OutOfCompliance'])
      expect(quickStart).toMatch(new RegExp(`^  Device DEMO-\\S+ .* told .* ${state}$`, 'm'));
    expect(quickStart).toMatch(/^ {2}Pool {3}C9300-DNA-E-3Y +purchased 10, in use 17/m);
    expect(devStack).toContain('`  Pool   ${');
  });
});

describe("Operators' view (Temporal UI)", () => {
  const start = readme.indexOf("## Operators' view (Temporal UI)");
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));

  test('embeds the screenshot, which exists as a 1440x900 PNG', () => {
    expect(start).toBeGreaterThan(0);
    expect(section).toMatch(/!\[[^\]]+\]\(docs\/temporal-ui-orders\.png\)/);
    const png = readFileSync(join(__dirname, '../../docs/temporal-ui-orders.png'));
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    // IHDR: width and height, big-endian, at bytes 16 and 20.
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([1440, 900]);
  });

  // Visibility queries fail at run time on a misspelt attribute or silently find nothing on a
  // misspelt value; these are checked against the definitions the workflows use.
  const SYSTEM_ATTRIBUTES = ['WorkflowType', 'ExecutionStatus', 'StartTime', 'CloseTime', 'WorkflowId'];
  const EXECUTION_STATUSES = ['Running', 'Completed', 'Failed', 'Canceled', 'Terminated', 'ContinuedAsNew', 'TimedOut'];
  const queries = [...section.matchAll(/^temporal workflow list --query (['"])(.*)\1$/gm)].map((m) => m[2]);

  test('lists ready-to-paste queries for held, waiting, old, referenced and failed orders', () => {
    expect(queries.length).toBeGreaterThanOrEqual(6);
    for (const needle of [
      'OrderStatus = "AwaitingSmartAccount"',
      'WaitingFor = "SmartAccountActivation"',
      'StartTime <',
      'ExternalReference = ',
      'ExecutionStatus IN ("Failed"',
    ]) {
      expect([needle, queries.some((q) => q.includes(needle))]).toEqual([needle, true]);
    }
  });

  test('its queries name only real search attributes and values', () => {
    const custom = SEARCH_ATTRIBUTE_DEFINITIONS.map((d) => d.name);
    for (const query of queries) {
      for (const [, attribute] of query.matchAll(/\b([A-Z][A-Za-z]+)\s*(?:=|<|>|IN\b)/g)) {
        expect([query, attribute, [...custom, ...SYSTEM_ATTRIBUTES].includes(attribute)]).toEqual([query, attribute, true]);
      }
      const values = (name: string) =>
        [...query.matchAll(new RegExp(`${name}\\s*(?:=\\s*["']([^"']+)["']|IN\\s*\\(([^)]*)\\))`, 'g'))].flatMap((m) =>
          m[1] ? [m[1]] : m[2].split(',').map((v) => v.trim().replace(/^["']|["']$/g, '')),
        );
      for (const value of values('OrderStatus'))
        expect([query, (ORDER_PHASES as readonly string[]).includes(value)]).toEqual([query, true]);
      for (const value of values('WaitingFor')) expect([query, (WAITING_FOR as readonly string[]).includes(value)]).toEqual([query, true]);
      for (const value of values('ExecutionStatus')) expect([query, EXECUTION_STATUSES.includes(value)]).toEqual([query, true]);
    }
  });
});

test('CI installs Debian Chromium for the browser tests when it is missing', () => {
  expect(ciRun).toMatch(/if \[ ! -x \/usr\/bin\/chromium \]; then/);
  expect(ciRun).toMatch(/DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium/);
  // Before the tests that need it.
  expect(ciRun.indexOf('apt-get install -y -qq chromium')).toBeLessThan(ciRun.indexOf('\nnpm test\n'));
});
