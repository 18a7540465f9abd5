/**
 * The customer links in received mail: a delegation link (`<PUBLIC_BASE_URL>/delegations/<token>`)
 * and an activation link (`<PUBLIC_BASE_URL>/activations/<token>`), read from the text part.
 */
import type { CaughtMail } from '../../src/dev/mail-catcher';
import { mailOf, waitForMail, type TestStack } from './stack';

/** A link token: 32 random bytes, base64url without padding. */
export const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The token of the `<publicBaseUrl>/<path>/<token>` link in a received email's text (exactly one link, a well-formed token). */
export function linkToken(stack: Pick<TestStack, 'config'>, mail: CaughtMail | undefined, path: 'delegations' | 'activations'): string {
  // `const [mail] = await waitForMail(…)` gives undefined when no mail came in time: say so.
  if (!mail) throw new Error(`no mail with a /${path}/ link was received`);
  const pattern = new RegExp(`${escapeRegExp(stack.config.publicBaseUrl)}/${path}/([^\\s"<>]+)`, 'g');
  const tokens = [...mail.text.matchAll(pattern)].map((m) => m[1]);
  expect(tokens).toHaveLength(1);
  expect(tokens[0]).toMatch(TOKEN_PATTERN);
  return tokens[0];
}

export function activationToken(stack: Pick<TestStack, 'config'>, mail: CaughtMail | undefined): string {
  return linkToken(stack, mail, 'activations');
}

/** The single delegation-request email of an order, to the contact, and its token. */
export async function delegationLink(
  stack: Pick<TestStack, 'config'>,
  orderId: string,
  contactEmail: string,
): Promise<{ mail: CaughtMail; token: string }> {
  const mails = await waitForMail(mailOf(orderId, 'delegation-request'));
  expect(mails).toHaveLength(1);
  expect(mails[0].to).toEqual([contactEmail]);
  return { mail: mails[0], token: linkToken(stack, mails[0], 'delegations') };
}

/** Activation mail (the request and its reminders) to `to`. */
export const isActivationMail = (to: string) => (m: CaughtMail) =>
  m.to.includes(to) && m.headers['x-email-template'] === 'activation-request';
/** The first activation request to `to`, not a reminder. */
export const isFirstRequest = (to: string) => (m: CaughtMail) => isActivationMail(to)(m) && !m.subject.startsWith('Reminder');
/** An activation reminder to `to`. */
export const isReminder = (to: string) => (m: CaughtMail) => isActivationMail(to)(m) && m.subject.startsWith('Reminder');
