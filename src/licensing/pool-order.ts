/**
 * The one order in which a transaction locks several pools: by "<vaId>\0<sku>" as text, as
 * allocateActivatedEntitlements does, so two writers of the same pools never deadlock.
 */
export function comparePoolKeys(a: { virtualAccountId: string; sku: string }, b: { virtualAccountId: string; sku: string }): number {
  return `${a.virtualAccountId}\u0000${a.sku}`.localeCompare(`${b.virtualAccountId}\u0000${b.sku}`);
}
