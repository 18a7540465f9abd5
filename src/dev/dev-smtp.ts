import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { redact, type Config } from '../config';
import { startMailCatcher } from './mail-catcher';

/** Where the quick start's mail goes, and how to stop what it started for it. */
export interface DevSmtp {
  smtpUrl: string;
  /** Where a person reads the mail, for the summary. */
  inbox: string;
  /** What was started: `SMTP_URL` (nothing), `mailpit` or `catcher`. */
  kind: 'smtp-url' | 'mailpit' | 'catcher';
  /** Mailpit's arguments, for the caller to spawn as a supervised child. */
  mailpitArgs?: string[];
  stop?: () => Promise<void>;
}

/** `host:port` split, the host without IPv6 brackets. */
export function splitListen(listen: string): { host: string; port: number } {
  const at = listen.lastIndexOf(':');
  return { host: listen.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(listen.slice(at + 1)) };
}

/** The Mailpit binary on PATH, or undefined. */
export function findMailpit(): string | undefined {
  return spawnSync('sh', ['-c', 'command -v mailpit'], { encoding: 'utf8' }).stdout.trim() || undefined;
}

/**
 * The quick start's SMTP: a set SMTP_URL is used as it is; otherwise the stack's own catcher
 * listens on DEV_SMTP_LISTEN (default 127.0.0.1:1025), so a busy :1025 is moved with one
 * variable: Mailpit when it is installed (its web inbox on :8025), else the in-process server
 * storing each message under `<dataDir>/mail/`.
 */
export async function startDevSmtp(config: Config, options: { dataDir: string; smtpUrlSet: boolean; mailpit?: string }): Promise<DevSmtp> {
  if (options.smtpUrlSet) return { smtpUrl: config.smtpUrl, inbox: `the inbox behind ${redact(config.smtpUrl)}`, kind: 'smtp-url' };
  const { host, port } = splitListen(config.devSmtpListen);
  const urlHost = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  if (options.mailpit) {
    return {
      smtpUrl: `smtp://${urlHost}:${port}`,
      inbox: 'http://localhost:8025',
      kind: 'mailpit',
      mailpitArgs: ['--smtp', config.devSmtpListen, '--listen', '127.0.0.1:8025', '--database', join(options.dataDir, 'mailpit.db')],
    };
  }
  const dir = join(options.dataDir, 'mail');
  const catcher = await startMailCatcher({ dir, port, host: host || '127.0.0.1' });
  return {
    smtpUrl: `smtp://${urlHost}:${catcher.port}`,
    inbox: `${dir}/ (one .eml and one .json per message)`,
    kind: 'catcher',
    stop: () => catcher.stop(),
  };
}
