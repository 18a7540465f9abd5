/** What a fault run found: the verification's figures, how long the fault held the run up, and the notes. */
import { cpus } from 'node:os';
import type { Client } from '@temporalio/client';
import type { Db } from '../../src/db/knex';
import type { EmailOutboxRow } from '../../src/db/rows';
import { paceRecoveryOf, recoveryOf, type StepRecord } from './accounting';
import type { Observer } from './observer';
import type { LicenseUsePart } from './license-use';
import type { FaultKind } from './options';
import type { FaultResult } from './report';
import type { Drive } from './scenarios';
import { summarize, verifyRun, type Verification } from './verify';

const say = (line: string) => process.stdout.write(`${line}\n`);

export async function verdictOf(run: {
  fault: FaultKind;
  db: Db;
  client: Client;
  drives: Drive[];
  observer: Observer;
  notes: string[];
  loads: number[];
  licenseUse: LicenseUsePart;
  times: { runStartedAt: number; injectedAt: number; clearedAt: number };
}): Promise<FaultResult> {
  const { fault, db, client, drives, observer, notes, loads } = run;
  // License use first: its notes lead, and a problem there fails the run like a lost order.
  const licenseUse = await run.licenseUse.verify({
    received: observer.mail.map((m) => ({ key: m.headers['x-idempotency-key'], messageId: m.headers['message-id'] ?? m.messageId })),
  });
  notes.push(...licenseUse.notes, ...licenseUse.problems.slice(0, 10).map((p) => `license use: ${p}`));
  const { injectedAt, clearedAt } = run.times;
  const verification = await verifyRun({ db, client, drives, mail: observer.mail });
  const figures = summarize(verification);
  const { recovery, paceRecovery } = await recoveryFigures(db, observer, run.times);
  notes.push(...verificationNotes(verification, notes.length));
  if (recovery.unfinished > 0) notes.push(`${recovery.unfinished} of the ${recovery.caught} steps caught by the fault never finished`);
  if (loads.length > 0) {
    notes.push(
      `machine load during the run (1-minute load average, ${cpus().length} cores): ${Math.min(...loads).toFixed(1)} to ${Math.max(...loads).toFixed(1)}`,
    );
  }
  const lostAnswersNote = lostAnswersNoteOf(drives);
  if (lostAnswersNote) notes.push(lostAnswersNote);
  const retried = drives.reduce((n, d) => n + d.retriedCalls, 0);
  say(
    `  ${figures.completed}/${drives.length} orders at their end state; ${observer.mail.length} emails received; ${retried} client calls retried; ` +
      `back at pace ${paceRecovery?.toFixed(1) ?? 'n/a'} s after the fault was cleared; ${recovery.caught} order steps and emails held up by it, the last done after ${recovery.seconds?.toFixed(1) ?? 'n/a'} s`,
  );
  return {
    fault,
    orders: drives.length,
    ...figures,
    recoverySeconds: paceRecovery,
    backlogSeconds: recovery.seconds,
    faultSeconds: (clearedAt - injectedAt) / 1000,
    emailsReceived: observer.mail.length,
    ...(licenseUse.checked ? { licenseUse: { checked: licenseUse.checked, problems: licenseUse.problems.length } } : {}),
    notes,
  };
}

/** How long the fault held the run up: its steps and emails caught by it, and when the pace came back. */
async function recoveryFigures(db: Db, observer: Observer, times: { runStartedAt: number; injectedAt: number; clearedAt: number }) {
  const { runStartedAt, injectedAt, clearedAt } = times;
  // Emails are steps too: one queued before the fault was cleared and sent after it started was
  // held up by it (the last mails of an order go out after its status already says Fulfilled).
  const emailSteps: StepRecord[] = (
    await db<EmailOutboxRow>('email_outbox').whereNotNull('sent_at').select('id', 'template', 'created_at', 'sent_at')
  ).map((r) => ({
    order: -1,
    label: `email ${r.template}`,
    kind: 'outcome',
    startedAt: new Date(r.created_at).getTime(),
    endedAt: new Date(r.sent_at!).getTime(),
  }));
  const allSteps = [...observer.steps, ...emailSteps];
  const recovery = recoveryOf(allSteps, { injectedAt, clearedAt });
  // The pace counts what the stack produced only: a booking or a signal is answered by the
  // Temporal server alone, and would keep up the pace while no worker runs.
  const paceRecovery = paceRecoveryOf(
    allSteps.filter((s) => s.kind === 'outcome' && s.endedAt !== undefined).map((s) => s.endedAt!),
    { runStartedAt, injectedAt, clearedAt },
  );
  return { recovery, paceRecovery };
}

/** Per order what went wrong (at most 25 notes in all, counting `earlier`), then the mail and half-written rows. */
function verificationNotes(verification: Verification, earlier: number): string[] {
  const notes: string[] = [];
  for (const o of verification.orders) {
    const issues = [
      ...(o.reached ? [] : [`ended ${o.finalPhase ?? 'unknown'}${o.drive.failure ? ` (${o.drive.failure})` : ''}`]),
      ...o.lostLicenses,
      ...o.duplicateDeposits,
      ...o.halfWritten,
      ...o.missingEmails,
    ];
    if (issues.length > 0 && earlier + notes.length < 25)
      notes.push(`order #${o.drive.plan.index} ${o.drive.plan.kind} ${o.drive.orderId ?? ''}: ${issues.join('; ')}`);
  }
  for (const r of verification.mail.redeliveries)
    notes.push(`SMTP re-delivery, same Message-ID: ${r.idempotencyKey} received ${r.copies} times`);
  for (const d of verification.mail.duplicates)
    notes.push(`duplicate email: ${d.idempotencyKey} received ${d.copies} times with Message-IDs ${d.messageIds.join(', ')}`);
  for (const u of verification.mail.unexpected.slice(0, 5))
    notes.push(`unexpected email: key ${u.idempotencyKey ?? '(none)'}, Message-ID ${u.messageId}`);
  for (const h of verification.halfWritten.slice(0, 10)) notes.push(`half-written: ${h}`);
  return notes;
}

function lostAnswersNoteOf(drives: Drive[]): string | undefined {
  const lostAnswers = drives.flatMap((d) => d.lostAnswers.map((a) => ({ ...a, order: d.plan.index, kind: d.plan.kind })));
  if (lostAnswers.length === 0) return undefined;
  const byLabel = new Map<string, number>();
  for (const a of lostAnswers) byLabel.set(a.label, (byLabel.get(a.label) ?? 0) + 1);
  return (
    `calls that failed although they had taken effect (the driver saw the change and did not repeat them): ${[...byLabel].map(([l, n]) => `${n} ${l}`).join(', ')}; ` +
    `e.g. order #${lostAnswers[0].order} ${lostAnswers[0].label}: ${lostAnswers[0].error.slice(0, 160)}`
  );
}
