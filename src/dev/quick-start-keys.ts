import { createApiKey, revokeApiKeysWhere } from '../api/auth';
import type { Db } from '../db/knex';
import { DEMO } from './demo-data';

/**
 * Quick-start keys are labelled "quick start ..." so that the next start can revoke any a crashed
 * run left valid: a key printed on a terminal works only while the stack that printed it runs.
 */
export const QUICK_START_LABEL = 'quick start';

export interface QuickStartKeys {
  operator: { id: string; key: string };
  partner: { id: string; key: string };
  /**
   * The Temporal UI's own operator key: the dev server's UI codec endpoint carries it
   * (`<API>/codec/ui/<key>`), so the UI decodes with no sign-in (src/api/codec-ui-routes.ts).
   */
  uiCodec: { id: string; key: string };
  /** Keys of earlier starts revoked now. */
  revokedLeftovers: number;
}

export async function revokeLeftoverQuickStartKeys(db: Db): Promise<number> {
  return revokeApiKeysWhere(db, (keys) => keys.where('label', 'like', `${QUICK_START_LABEL} %`));
}

export async function revokeKeys(db: Db, ids: string[]): Promise<void> {
  await revokeApiKeysWhere(db, (keys) => keys.whereIn('id', ids));
}

/** Revokes what earlier starts left valid, then mints this start's three keys. */
export async function mintQuickStartKeys(db: Db, stamp: string): Promise<QuickStartKeys> {
  const revokedLeftovers = await revokeLeftoverQuickStartKeys(db);
  const operator = await createApiKey(db, { role: 'operator', label: `${QUICK_START_LABEL} operator key (npm start ${stamp})` });
  const partner = await createApiKey(db, {
    role: 'partner',
    partnerId: DEMO.partnerId,
    label: `${QUICK_START_LABEL} partner key ${DEMO.partnerId} (npm start ${stamp})`,
  });
  const uiCodec = await createApiKey(db, { role: 'operator', label: `${QUICK_START_LABEL} Temporal UI codec key (npm start ${stamp})` });
  return { operator, partner, uiCodec, revokedLeftovers };
}
