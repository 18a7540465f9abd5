import type { Knex } from 'knex';
import type { Config } from '../config';
import type { Db } from '../db/knex';
import { CONTROL_CHARACTERS, ID_PATTERN, isValidEmail, type FieldError } from '../orders/order';
import { claimLink, type LinkProblem } from '../security/link-claims';
import { hashToken, isWellFormedToken } from '../security/tokens';
import { findOrCreateUser, ID_REASON } from './account-admin';
import { sendPeopleEmail, windowOf, type PeopleMailDeps } from './people-mail';

/**
 * People (R24, issue 14): a person creates their own registered user ID by proving they own an
 * email, and signs in with a single-use emailed link. A sign-in request answers the same whether
 * or not the email is known, so nobody learns who has an account. Links are single use, expire,
 * and are consumed only by a POST (a mail scanner's GET changes nothing).
 */

export type PeopleDeps = PeopleMailDeps & {
  config: Pick<Config, 'publicBaseUrl' | 'mailFrom' | 'signInLinkTtlMs' | 'delegationTokenTtlMs'>;
};

export class PeopleRefusal extends Error {
  constructor(
    readonly reason: 'id-taken' | 'invalid',
    message: string,
    readonly fieldErrors: FieldError[] = [],
  ) {
    super(message);
    this.name = 'PeopleRefusal';
  }
}

export interface UserIdRequest {
  email: string;
  registeredId: string;
  fullName: string;
}

export function validateUserIdRequest(input: Partial<UserIdRequest>): FieldError[] {
  const errors: FieldError[] = [];
  if (!input.email || !isValidEmail(input.email)) errors.push({ field: 'email', reason: 'must be an email address' });
  if (!input.registeredId || !ID_PATTERN.test(input.registeredId)) errors.push({ field: 'registeredId', reason: ID_REASON });
  const name = input.fullName?.trim() ?? '';
  if (!name || name.length > 200 || CONTROL_CHARACTERS.test(name))
    errors.push({ field: 'fullName', reason: 'must be one line of 1-200 characters' });
  return errors;
}

async function idTakenByOther(q: Knex, registeredId: string, email: string): Promise<boolean> {
  const owner = await q('users').whereRaw('lower(registered_id) = lower(?)', [registeredId]).first<{ email: string } | undefined>('email');
  return owner !== undefined && owner.email.toLowerCase() !== email.toLowerCase();
}

/**
 * Step one of a new user ID: emails a verify link to the address (one per address, ID and link
 * lifetime: a repeat sends nothing new). The ID is only taken when the link is opened. An email
 * that owns an ID already gets told so by email instead; the answer here is the same.
 */
export async function requestUserId(deps: PeopleDeps, input: UserIdRequest): Promise<void> {
  const errors = validateUserIdRequest(input);
  if (errors.length > 0) throw new PeopleRefusal('invalid', 'the request is not valid', errors);
  const { db, config } = deps;
  if (await idTakenByOther(db, input.registeredId, input.email)) {
    throw new PeopleRefusal('id-taken', `the user ID "${input.registeredId}" is taken; choose another`, [
      { field: 'registeredId', reason: 'is taken by someone else; choose another' },
    ]);
  }
  const existing = await db('users')
    .whereRaw('lower(email) = lower(?)', [input.email])
    .first<{ id: string | number; registered_id: string | null; email_verified_at: Date | null } | undefined>(
      'id',
      'registered_id',
      'email_verified_at',
    );
  // Half the link's lifetime: a repeat inside the window finds a link that is still valid.
  const window = windowOf(Date.now(), config.delegationTokenTtlMs / 2);
  if (existing?.email_verified_at && existing.registered_id) {
    await sendPeopleEmail(deps, {
      template: 'user-id-exists',
      to: input.email,
      subject: 'You already have a Smart Licensing user ID',
      paragraphs: [
        `Someone (probably you) asked to create the user ID "${input.registeredId}" for this email address.`,
        `This address already owns the user ID "${existing.registered_id}". Sign in with it at ${config.publicBaseUrl}/sign-in.`,
        'If this was not you, you can ignore this email.',
      ],
      idempotencyKey: `user-id-exists:${existing.id}:${window}`,
    });
    return;
  }
  const userId = existing ? String(existing.id) : String(await findOrCreateUser(db, { email: input.email }));
  const expiresAt = new Date(Date.now() + config.delegationTokenTtlMs);
  await sendPeopleEmail(deps, {
    template: 'verify-email',
    to: input.email,
    subject: 'Confirm your email to create your Smart Licensing user ID',
    paragraphs: [
      `Hello ${input.fullName.trim()},`,
      `Open this link to confirm your email and create the user ID "${input.registeredId}":`,
      '{{secure-link}}',
      `The link works once and expires on ${expiresAt.toISOString().slice(0, 10)}. If you did not ask for this, ignore this email.`,
    ],
    idempotencyKey: `verify-email:${userId}:${input.registeredId.toLowerCase()}:${window}`,
    link: {
      purpose: 'verify_email',
      path: 'people/verify',
      userId,
      expiresAt,
      details: { registeredId: input.registeredId, fullName: input.fullName.trim() },
    },
  });
}

export type LinkState = 'valid' | LinkProblem;
export type { LinkProblem };

interface TokenRow {
  id: string | number;
  contact_id: string | number;
  used_at: Date | null;
  expires_at: Date;
  details: Record<string, unknown>;
}

/** What a link of this purpose is now, without using it (the GET that shows the button). */
export async function linkState(q: Knex, purpose: 'sign_in' | 'verify_email', token: string): Promise<LinkState> {
  if (!isWellFormedToken(token)) return 'unknown';
  const row = await q('access_tokens')
    .where({ token_hash: hashToken(token), purpose })
    .first<TokenRow | undefined>('id', 'contact_id', 'used_at', 'expires_at', 'details');
  if (!row) return 'unknown';
  if (row.used_at) return 'used';
  return row.expires_at.getTime() <= Date.now() ? 'expired' : 'valid';
}

/** Uses the link up in one claim (in the caller's transaction) and returns its row, or why it cannot be used. */
async function consumeLink(trx: Knex.Transaction, purpose: 'sign_in' | 'verify_email', token: string): Promise<TokenRow | LinkProblem> {
  return claimLink<TokenRow>(trx, purpose, token, ['id', 'contact_id', 'used_at', 'expires_at', 'details']);
}

/** Opens a verify link: the user gets the ID they asked for and a verified email. */
export async function verifyEmail(db: Db, token: string): Promise<{ userId: string; registeredId: string } | LinkProblem | 'id-taken'> {
  try {
    return await db.transaction(async (trx) => {
      const row = await consumeLink(trx, 'verify_email', token);
      if (typeof row === 'string') return row;
      const registeredId = String(row.details.registeredId);
      const fullName = typeof row.details.fullName === 'string' ? row.details.fullName : null;
      await trx('users')
        .where({ id: row.contact_id })
        .update({ registered_id: registeredId, full_name: trx.raw('COALESCE(?, full_name)', [fullName]), email_verified_at: trx.fn.now() });
      return { userId: String(row.contact_id), registeredId };
    });
  } catch (err) {
    // Someone else verified the same ID first: the unique index refuses the second; nothing is used up.
    if ((err as { code?: string }).code === '23505') return 'id-taken';
    throw err;
  }
}

/**
 * Emails a sign-in link when the address belongs to a verified user; does nothing otherwise. The
 * caller answers the same in both cases. A repeat while the last link is unused and young sends nothing new.
 */
export async function requestSignIn(deps: PeopleDeps, email: string): Promise<void> {
  if (!isValidEmail(email)) return;
  const { db, config } = deps;
  const user = await db('users')
    .whereRaw('lower(email) = lower(?)', [email])
    .whereNotNull('email_verified_at')
    .first<{ id: string | number; email: string; full_name: string | null } | undefined>('id', 'email', 'full_name');
  if (!user) return;
  const expiresAt = new Date(Date.now() + config.signInLinkTtlMs);
  await sendPeopleEmail(deps, {
    template: 'sign-in',
    to: user.email,
    subject: 'Your Smart Licensing sign-in link',
    paragraphs: [
      `Hello ${user.full_name ?? user.email},`,
      'Open this link to sign in to Smart Licensing:',
      '{{secure-link}}',
      `It works once and expires at ${expiresAt.toISOString().slice(11, 16)} UTC. If you did not ask to sign in, ignore this email.`,
    ],
    idempotencyKey: `sign-in:${user.id}:${await usedSignIns(db, String(user.id))}:${windowOf(Date.now(), config.signInLinkTtlMs / 2)}`,
    link: { purpose: 'sign_in', path: 'sign-in', userId: String(user.id), expiresAt },
  });
}

/** Sign-in links the user has used: after each, a new request mails a new link at once. */
async function usedSignIns(db: Db, userId: string): Promise<number> {
  const [{ n }] = await db('access_tokens')
    .where({ contact_id: userId, purpose: 'sign_in' })
    .whereNotNull('used_at')
    .count<[{ n: string }]>({ n: '*' });
  return Number(n);
}

/** Uses a sign-in link up; the user to open a session for, or why not. */
export async function consumeSignIn(db: Db, token: string): Promise<{ userId: string } | LinkProblem> {
  return db.transaction(async (trx) => {
    const row = await consumeLink(trx, 'sign_in', token);
    return typeof row === 'string' ? row : { userId: String(row.contact_id) };
  });
}
