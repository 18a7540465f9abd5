import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_VARIABLES } from '../../src/config';
import { SEARCH_ATTRIBUTE_DEFINITIONS } from '../../src/temporal/search-attributes';

const readme = readFileSync(join(__dirname, '../../README.md'), 'utf8');
const ciRun = readFileSync(join(__dirname, '../../.ci/run'), 'utf8');

test('the README documents every configuration variable with its default', () => {
  for (const [name, { default: value }] of Object.entries(CONFIG_VARIABLES)) {
    expect(readme).toContain(`| \`${name}\` | \`${value}\` |`);
  }
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
