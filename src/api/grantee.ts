import type { Grantee } from '../accounts/roles';
import type { Principal } from './auth';

/** The grantee whose roles decide what an API caller may see and do on a customer's account. */
export function granteeOf(principal: Principal): Grantee {
  return principal.role === 'operator' ? { kind: 'operator' } : { kind: 'partner', partnerId: principal.partnerId };
}
