/**
 * Account administration: Smart Account search and requests (R2), virtual accounts, holding-account
 * members (R9) and role grants (R11), as plain functions over Postgres and the Temporal client.
 * The HTTP API and the CLI share them; each decides who may call what, these decide what happens.
 * Refusals are PlacementRefusals (the API answers 422), malformed input a ValidationError (400),
 * so a caller gets the same reasons whichever door it came through. Every write is idempotent.
 * One module per responsibility; this one gathers them for callers that use several.
 */
export * from './account-records';
export * from './smart-account-requests';
export * from './virtual-accounts';
export * from './holding-account-members';
export * from './role-grants';
