import type { Command } from 'commander';
import type { Email, EmailListParams } from '../api-client';
import { apiClient, integerOption, printResult, withHints } from '../cli/context';
import { formatKeyValues, formatTable } from '../cli/table';

/** `emails ...`: the emails the SMTP server refused for good, and their resend (issue 18 item 1; HTTP API). */

const STATUSES = ['failed', 'pending', 'sent', 'withdrawn'] as const;

function emailRows(emails: Email[]): string {
  return formatTable(
    ['EMAIL ID', 'ORDER', 'ALERT', 'TEMPLATE', 'TO', 'STATUS', 'ANSWER', 'RESENT AS'],
    emails.map((e) => [e.emailId, e.orderId ?? '', e.alertId ?? '', e.template, e.to, e.status, e.lastError ?? '', e.resentAs ?? '']),
  );
}

export function registerEmailCommands(program: Command): void {
  const emails = program
    .command('emails')
    .description('emails the SMTP server refused for good, with its answer, and their resend (HTTP API)');

  emails
    .command('list')
    .description('emails by delivery status, newest first (default: failed)')
    .option('--status <status>', `one of ${STATUSES.join(', ')}`, 'failed')
    .option('--order <orderId>', "only this order's emails")
    .option('--limit <n>', 'emails per page (1-500)', integerOption('--limit', 1, 500))
    .option('--after <cursor>', 'the next page: the nextCursor the previous page printed')
    .action(
      withHints(
        { status: '--status', orderId: '--order', limit: '--limit', after: '--after' },
        async (opts: { status: string; order?: string; limit?: number; after?: string }, command: Command) => {
          const query = {
            status: opts.status as NonNullable<EmailListParams['status']>,
            ...(opts.order !== undefined ? { orderId: opts.order } : {}),
            ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
            ...(opts.after !== undefined ? { after: opts.after } : {}),
          };
          const page = await apiClient().listEmails(query);
          printResult(command, page, (p) => {
            if (p.emails.length === 0) return `No ${opts.status} emails.`;
            return emailRows(p.emails) + (p.nextCursor ? `\nMore: --after ${p.nextCursor}` : '');
          });
        },
      ),
    );

  emails
    .command('resend')
    .description('send a failed email again, to --to (the corrected address) or the same address; once per email')
    .argument('<emailId>')
    .option('--to <address>', 'the corrected address')
    .action(
      withHints({ to: '--to', emailId: '<emailId>' }, async (emailId: string, opts: { to?: string }, command: Command) => {
        const resent = await apiClient().resendEmail(emailId, opts.to !== undefined ? { to: opts.to } : {});
        printResult(command, resent, (r) =>
          formatKeyValues([
            ['Resent as', r.email.emailId],
            ['To', r.email.to],
            ['Status', r.email.status],
            ['Answer', r.email.lastError ?? ''],
            ['Repeated', r.repeated ? 'yes: it had been resent before, nothing new was queued' : 'no'],
          ]),
        );
      }),
    );
}
