/**
 * Secrets come from the environment only (issue 5, item 3): a property of the repository. Every
 * file git would commit (tracked, or new and not ignored) is searched for what a leaked secret
 * looks like here: an API key (`lfk_` + 43 characters), an AES key in PAYLOAD_ENCRYPTION_KEYS
 * form (`id:` + 32 bytes of base64), a password in a URL, a PEM private key. The few examples
 * the documentation shows on purpose are listed below with why each is harmless; anything else
 * fails the test. The configuration itself holds no secret default.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { CONFIG_VARIABLES, loadConfig } from '../../src/config';

const ROOT = resolve(__dirname, '../..');

/** What git would commit: tracked files and new ones not ignored (so a developer's .env is not read). */
function committableFiles(): string[] {
  try {
    const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return [...new Set(out.split('\0').filter(Boolean))].filter((f) => existsSync(join(ROOT, f)) && statSync(join(ROOT, f)).isFile());
  } catch {
    // No git (an unpacked tarball): walk the tree, leaving out what .gitignore leaves out.
    const skip = new Set(['node_modules', '.git', '.data', 'dist', 'coverage', '.env']);
    const walk = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
        skip.has(entry.name) ? [] : entry.isDirectory() ? walk(join(dir, entry.name)) : [relative(ROOT, join(dir, entry.name))],
      );
    return walk(ROOT);
  }
}

interface Finding {
  file: string;
  kind: string;
  match: string;
}

const SECRET_PATTERNS: Array<[kind: string, pattern: RegExp]> = [
  ['API key', /lfk_[A-Za-z0-9_-]{43}/g],
  ['payload encryption key', /[A-Za-z0-9._-]+:[A-Za-z0-9+/]{43}=/g],
  ['password in a URL', /\b[a-z][a-z0-9+.-]*:\/\/[^\s/:@'"`]+:[^\s@/'"`]+@/gi],
  ['private key', /-----BEGIN [A-Z ]*PRIVATE KEY-----/g],
];

/** Shown on purpose, each with the reason it is not a secret. */
const DOCUMENTED: Array<{ file: string; match: string; why: string }> = [
  {
    file: 'README.md',
    match: 'lfk_WYDIBBfa9gfgnN4A0w8FMWYmJSgJF0LKvQ98FztQ3EM',
    why: 'the quick start output of a stopped run: keys are revoked when the stack stops',
  },
  {
    file: 'README.md',
    match: 'lfk_d86aeb4qkckCnjIth0Z1G9tMzWC-VHYsVabgh2R6I1Q',
    why: 'the quick start output of a stopped run: keys are revoked when the stack stops',
  },
  {
    file: 'docker-compose.yml',
    match: 'postgres://postgres:postgres@',
    why: 'the throw-away Postgres of the local compose stack, not published on a host port',
  },
  { file: 'test/unit/config.test.ts', match: 'postgresql://app:secret@', why: 'test input of the configuration parser' },
  { file: 'test/unit/config.test.ts', match: 'smtps://user:pass@', why: 'test input of the configuration parser' },
  { file: 'test/unit/config.test.ts', match: 'postgres://app:s3cret@', why: 'test input of the URL redaction' },
  { file: 'test/unit/config.test.ts', match: 'smtps://mailer:p%40ss@', why: 'test input of the URL redaction' },
  { file: 'test/unit/observability.test.ts', match: 'postgres://app:s3cret@', why: 'test input of the log redaction' },
  { file: 'test/unit/observability.test.ts', match: 'smtps://mailer:p%40ss@', why: 'test input of the log redaction' },
];

/** A redacted or templated password is no password. */
const PLACEHOLDER_PASSWORD = /:\/\/[^:]+:(\*+|\$\{[^}]+\}|<[^>]+>|\$\$?[A-Z_]+)@$/;

/** This file names the documented examples (and test samples) itself, so it is not searched. */
const SELF = relative(ROOT, __filename);

function findings(files: string[]): Finding[] {
  const found: Finding[] = [];
  for (const file of files.filter((f) => f !== SELF)) {
    const buffer = readFileSync(join(ROOT, file));
    if (buffer.includes(0)) continue; // binary (a PNG)
    const text = buffer.toString('utf8');
    for (const [kind, pattern] of SECRET_PATTERNS) {
      for (const match of text.matchAll(pattern)) {
        if (kind === 'password in a URL' && PLACEHOLDER_PASSWORD.test(match[0])) continue;
        found.push({ file, kind, match: match[0] });
      }
    }
  }
  return found;
}

describe('the repository holds no secret', () => {
  const files = committableFiles();

  test('the search sees the whole repository (source, tests, docs, compose, scripts)', () => {
    expect(files.length).toBeGreaterThan(100);
    for (const file of [
      'src/config.ts',
      'README.md',
      'docker-compose.yml',
      '.env.example',
      'test/unit/properties-repository-secrets.test.ts',
    ])
      expect(files).toContain(file);
    expect(files.some((f) => f.startsWith('node_modules/'))).toBe(false);
  });

  test('nothing that looks like an API key, an encryption key, a password in a URL or a private key, except the documented examples', () => {
    const unexpected = findings(files).filter((f) => !DOCUMENTED.some((d) => d.file === f.file && f.match.startsWith(d.match)));
    expect(unexpected).toEqual([]);
  });

  test('each documented example is still where it is documented (a stale entry would hide nothing, but says something untrue)', () => {
    const all = findings(files);
    for (const documented of DOCUMENTED) {
      expect({ ...documented, found: all.some((f) => f.file === documented.file && f.match.startsWith(documented.match)) }).toEqual({
        ...documented,
        found: true,
      });
    }
  });

  test('the patterns do find what they look for (the test can fail)', () => {
    const key = `lfk_${'Q'.repeat(43)}`;
    const aes = `k1:${Buffer.alloc(32, 7).toString('base64')}`;
    const samples = [key, aes, 'smtps://mailer:hunter2@smtp.example.com', `-----BEGIN ${'PRIVATE'} KEY-----`];
    for (const sample of samples) {
      expect({ sample, found: SECRET_PATTERNS.some(([, pattern]) => new RegExp(pattern.source, pattern.flags).test(sample)) }).toEqual({
        sample,
        found: true,
      });
    }
    expect(PLACEHOLDER_PASSWORD.test('postgres://app:***@')).toBe(true);
    expect(PLACEHOLDER_PASSWORD.test('postgres://app:s3cret@')).toBe(false);
  });
});

describe('secrets come from the environment', () => {
  test('the payload and license signing keys are the only secret variables, and have no default', () => {
    const secrets = Object.entries(CONFIG_VARIABLES).filter(([, v]) => 'secret' in v && v.secret);
    expect(secrets.map(([name]) => name)).toEqual(['PAYLOAD_ENCRYPTION_KEYS', 'LICENSE_SIGNING_KEYS']);
    expect(CONFIG_VARIABLES.PAYLOAD_ENCRYPTION_KEYS.default).toBe('');
    expect(CONFIG_VARIABLES.LICENSE_SIGNING_KEYS.default).toBe('');
    expect(loadConfig({}).payloadEncryptionKeys).toBe('');
    expect(loadConfig({}).licenseSigningKeys).toBe('');
  });

  test('no default URL carries a password', () => {
    for (const [name, variable] of Object.entries(CONFIG_VARIABLES)) {
      expect({ name, hasPassword: /:\/\/[^/\s:@]+:[^@\s/]+@/.test(variable.default) }).toEqual({ name, hasPassword: false });
    }
  });

  test('what the environment says is what the process uses', () => {
    const keys = `k9:${Buffer.alloc(32, 1).toString('base64')}`;
    const config = loadConfig({ PAYLOAD_ENCRYPTION_KEYS: keys, SMTP_URL: 'smtps://mailer:from-env@smtp.example.com:465' });
    expect(config.payloadEncryptionKeys).toBe(keys);
    expect(config.smtpUrl).toBe('smtps://mailer:from-env@smtp.example.com:465');
  });
});
