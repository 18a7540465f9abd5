/**
 * Why an email was not resent: unknown (404), not failed or a secure link (409), or queued but
 * the SMTP server did not take it yet (503: the same call again sends it).
 */
export class EmailResendRefusal extends Error {
  constructor(
    readonly code: 'NotFound' | 'InvalidState' | 'Unavailable',
    message: string,
  ) {
    super(message);
    this.name = 'EmailResendRefusal';
  }
}

/**
 * Sends a failed email again (activities/shared/email-resend.ts): `to` the corrected address or
 * the one it failed for; `repeated` when it had been resent before and nothing new was queued.
 */
export type ResendEmail = (emailId: string, request: { to?: string; resentBy: string }) => Promise<{ repeated: boolean }>;
