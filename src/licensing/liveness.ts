import type { Knex } from 'knex';
import { isoDateOf } from '../common/dates';
import type { LicenseClockConfig } from '../config';
import { raiseAlert, type AlertKind } from './alerts';
import { recordLicenseEvent } from './events';
import { comparePoolKeys } from './pool-order';
import { lockPool, recomputePool } from './pools';
import { deleteOldUsageReports } from './report-retention';

/**
 * R19, liveness: a product instance that has not reported for 30 days raises "failed to connect"
 * (once per silence), at 90 days its authorization expires and its use leaves each pool, at one
 * year it is removed and its credentials revoked. Each step reads only the instances due, by the
 * last_contact_at index, in bounded batches; each instance changes in a transaction of its own.
 * A report (lu-core's path) moves last_contact_at and so ends the silence. The same sweep deletes
 * usage reports past their retention (report-retention.ts).
 */

export type LivenessSettings = Pick<
  LicenseClockConfig,
  'failedToConnectAfterMs' | 'authorizationExpiresAfterMs' | 'removedAfterMs' | 'usageReportRetentionMs'
>;

export interface LivenessResult {
  failedToConnect: number;
  expired: number;
  removed: number;
  /** Usage reports deleted for being older than USAGE_REPORT_RETENTION (report-retention.ts). */
  reportsDeleted: number;
  /** A batch was full: more may be due (the next run, or the next loop, takes them). */
  more: boolean;
}

interface SilentInstance {
  id: string;
  account_id: string;
  virtual_account_id: string;
  last_contact_at: Date;
}

const SYSTEM = 'system';

/** One step of the sweep: the instances in `states` silent for at least `silentForMs` (and less than `silentForLessThanMs`). */
interface LivenessStep {
  states: string[];
  silentForMs: number;
  silentForLessThanMs?: number;
  /** Only instances whose silence raised no "failed to connect" yet (one alert per silence). */
  notYetAlerted?: boolean;
  act: (instance: SilentInstance) => Promise<unknown>;
}

/** `accountId` limits the sweep to one Smart Account (an operator's re-run, a test's own world). */
export async function sweepLiveness(
  db: Knex,
  settings: LivenessSettings,
  asOfMs: number,
  batch: number,
  accountId?: string,
): Promise<LivenessResult> {
  const scope = { asOfMs, batch, accountId };
  // Longest silence first, so an instance due for several steps takes the furthest one only.
  const removed = await runStep(db, scope, {
    states: ['active', 'authorization_expired'],
    silentForMs: settings.removedAfterMs,
    act: (instance) => removeInstance(db, instance, asOfMs),
  });
  const expired = await runStep(db, scope, {
    states: ['active'],
    silentForMs: settings.authorizationExpiresAfterMs,
    act: (instance) => db.transaction((trx) => expireInstance(trx, instance, asOfMs, true)),
  });
  const failedToConnect = await runStep(db, scope, {
    states: ['active'],
    silentForMs: settings.failedToConnectAfterMs,
    silentForLessThanMs: settings.authorizationExpiresAfterMs,
    notYetAlerted: true,
    act: (instance) => raiseFailedToConnect(db, instance, settings.failedToConnectAfterMs),
  });
  const reports = await deleteOldUsageReports(db, settings.usageReportRetentionMs, asOfMs, batch, accountId);
  return {
    failedToConnect,
    expired,
    removed,
    reportsDeleted: reports.deleted,
    more: [removed, expired, failedToConnect].some((n) => n >= batch) || reports.more,
  };
}

/** Reads one bounded batch of the instances due for `step`, oldest contact first, and acts on each; returns how many. */
async function runStep(db: Knex, scope: { asOfMs: number; batch: number; accountId?: string }, step: LivenessStep): Promise<number> {
  const query = db('product_instances as p')
    .whereIn('p.state', step.states)
    .where('p.last_contact_at', '<=', new Date(scope.asOfMs - step.silentForMs))
    .orderBy('p.last_contact_at')
    .limit(scope.batch)
    .select<SilentInstance[]>('p.id', 'p.account_id', 'p.virtual_account_id', 'p.last_contact_at');
  if (scope.accountId !== undefined) query.where('p.account_id', scope.accountId);
  if (step.silentForLessThanMs !== undefined) query.where('p.last_contact_at', '>', new Date(scope.asOfMs - step.silentForLessThanMs));
  // One alert per silence: one raised after the last contact means this silence was told.
  if (step.notYetAlerted) {
    query.whereNotExists(
      db('license_alerts as a')
        .where('a.kind', 'failed_to_connect')
        .whereRaw(`a.subject = 'instance:' || p.id`)
        .whereRaw('a.day >= (p.last_contact_at AT TIME ZONE ?)::date', ['UTC']),
    );
  }
  const due = await query;
  for (const instance of due) await step.act(instance);
  return due.length;
}

async function raiseFailedToConnect(db: Knex, instance: SilentInstance, afterMs: number): Promise<void> {
  // The alert's day is the day the silence crossed the threshold: the same whichever run raises it.
  const day = isoDateOf(instance.last_contact_at.getTime() + afterMs);
  await db.transaction((trx) =>
    tellSilence(trx, instance, {
      alert: { kind: 'failed_to_connect', day, details: { lastContactAt: instance.last_contact_at.toISOString() } },
      eventOnlyWithNewAlert: true,
      event: {
        type: 'instance_failed_to_connect',
        idempotencyKey: `failed-to-connect:${instance.id}:${instance.last_contact_at.toISOString()}`,
      },
    }),
  );
}

interface SilenceNotice {
  /** The alert (its message says how long the instance has been silent, then `consequence`). */
  alert?: { kind: AlertKind; day: string; consequence?: string; details?: Record<string, unknown> };
  /** Record the event only when the alert is new (one per silence, whichever run raises it). */
  eventOnlyWithNewAlert?: boolean;
  event: { type: string; idempotencyKey: string; details?: Record<string, unknown> };
}

/** The alert and the event of one liveness step on an instance, both about its silence since its last contact. */
async function tellSilence(trx: Knex.Transaction, instance: SilentInstance, notice: SilenceNotice): Promise<void> {
  const about = { accountId: instance.account_id, virtualAccountId: instance.virtual_account_id, subject: `instance:${instance.id}` };
  const since = instance.last_contact_at.toISOString();
  if (notice.alert) {
    const raised = await raiseAlert(
      trx,
      {
        ...about,
        kind: notice.alert.kind,
        message: `product instance ${instance.id} has not reported since ${since}${notice.alert.consequence ?? ''}`,
        details: { instanceId: instance.id, ...notice.alert.details },
      },
      notice.alert.day,
    );
    if (!raised && notice.eventOnlyWithNewAlert) return;
  }
  await recordLicenseEvent(trx, {
    ...about,
    type: notice.event.type,
    actor: SYSTEM,
    details: { lastContactAt: since, ...notice.event.details },
    idempotencyKey: notice.event.idempotencyKey,
  });
}

/**
 * Releases the instance's use from every pool it uses: its usage rows become AuthorizationExpired
 * (recomputePool leaves them out) and each pool is re-judged at once. The instance row is locked
 * before its pools (in (VA, SKU) order), as a usage report locks them, so the two never deadlock.
 */
export async function expireInstance(trx: Knex.Transaction, instance: SilentInstance, asOfMs: number, alert: boolean): Promise<boolean> {
  const current = await currentInstance(trx, instance.id);
  // A report came in since the sweep read it: the silence is over.
  if (current?.state !== 'active' || current.last_contact_at.getTime() !== instance.last_contact_at.getTime()) return false;
  const rows: Array<{ sku: string; virtual_account_id: string }> = await trx('instance_usage')
    .where({ instance_id: instance.id })
    .select('sku', 'virtual_account_id');
  const uses = rows.map((r) => ({ virtualAccountId: String(r.virtual_account_id), sku: r.sku })).sort(comparePoolKeys);
  for (const use of uses) await lockPool(trx, instance.account_id, use);
  await trx('product_instances').where({ id: instance.id }).update({ state: 'authorization_expired' });
  await trx('instance_usage').where({ instance_id: instance.id }).update({ state: 'AuthorizationExpired' });
  const today = isoDateOf(asOfMs);
  for (const use of uses) await recomputePool(trx, instance.account_id, use, today);
  const released = { released: uses.map((u) => u.sku) };
  await tellSilence(trx, instance, {
    ...(alert
      ? {
          alert: {
            kind: 'authorization_expired',
            day: today,
            consequence: ': its authorization expired and its licenses went back to the pool',
            details: released,
          },
        }
      : {}),
    event: {
      type: 'instance_authorization_expired',
      idempotencyKey: `authorization-expired:${instance.id}:${instance.last_contact_at.toISOString()}`,
      details: released,
    },
  });
  return true;
}

async function currentInstance(trx: Knex.Transaction, id: string): Promise<{ state: string; last_contact_at: Date } | undefined> {
  return trx('product_instances')
    .where({ id })
    .forUpdate()
    .first<{ state: string; last_contact_at: Date } | undefined>('state', 'last_contact_at');
}

/** Removes the instance (expiring it first if it still held licenses) and revokes its credentials. */
async function removeInstance(db: Knex, instance: SilentInstance, asOfMs: number): Promise<void> {
  await db.transaction(async (trx) => {
    await expireInstance(trx, instance, asOfMs, false);
    const current = await currentInstance(trx, instance.id);
    if (current?.state !== 'authorization_expired' || current.last_contact_at.getTime() !== instance.last_contact_at.getTime()) return;
    await trx('product_instances')
      .where({ id: instance.id })
      .update({ state: 'removed', removed_at: new Date(asOfMs), credential_expires_at: new Date(asOfMs) });
    await tellSilence(trx, instance, {
      alert: { kind: 'instance_removed', day: isoDateOf(asOfMs), consequence: ': it was removed and its credentials revoked' },
      event: { type: 'instance_removed', idempotencyKey: `instance-removed:${instance.id}` },
    });
  });
}
