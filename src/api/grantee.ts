import type { Grantee } from '../accounts/roles';
import type { Principal } from './auth';

/** The grantee whose roles decide what an API caller may see and do on a customer's account. */
export function granteeOf(principal: Principal): Grantee {
  if (principal.role === 'operator') return { kind: 'operator' };
  if (principal.role === 'user') return { kind: 'user', userId: principal.userId };
  return { kind: 'partner', partnerId: principal.partnerId };
}
