import { randomBytes } from 'node:crypto';
import type { DeviceCaller } from '../src/licensing/device-auth';
import type { SigningKeys } from '../src/licensing/signing';

/** A registered instance as the straight-against-Postgres runs read it. */
export interface FleetInstanceRow {
  id: string;
  public_key: string;
  account_id: string;
  virtual_account_id: string;
  credential_serial: string;
}

/** The caller the API would have authenticated for this instance, with a fresh signature hash (no HTTP, no signature check). */
export function deviceCallerOf(keys: SigningKeys, r: FleetInstanceRow): DeviceCaller {
  return {
    claims: {
      v: 1,
      kid: keys.current.id,
      instanceId: r.id,
      publicKey: r.public_key,
      accountId: r.account_id,
      virtualAccountId: String(r.virtual_account_id),
      serial: r.credential_serial,
      exportControlled: false,
      issuedAt: '',
      renewAfter: '',
      expiresAt: '',
    },
    signatureHash: randomBytes(32),
  };
}
