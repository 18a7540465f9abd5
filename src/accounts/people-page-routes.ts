import type { FastifyInstance } from 'fastify';
import type { ApiDependencies } from '../api/dependencies';
import { clearedNextCookieHeader, LANDING, nextCookieHeader, pageToReturnTo, returnPathOf } from '../web/after-sign-in';
import { createSmtpMailer } from '../email/mailer';
import { clearedSessionCookieHeader, closeSession, openSession, sessionCookieHeader, sessionUser } from '../web/session';
import { fieldOf, registerPageScope, sendAppPage, type PageTools } from '../web/page-scope';
import { consumeSignIn, linkState, PeopleRefusal, requestSignIn, requestUserId, verifyEmail, type PeopleDeps } from './people';
import { checkEmailPage, confirmLinkPage, linkProblemPage, registerFormPage, signInFormPage, verifiedPage } from './people-pages';

/** The mail the pages send, and the sends still under way (awaited when the API closes). */
type PageMail = { people: PeopleDeps; inFlight: Set<Promise<unknown>> };

/**
 * R24 pages without a session:
 *
 *   GET/POST /sign-in              ask for a sign-in link (the same answer for any address)
 *   GET/POST /sign-in/:token       a button that signs in (a mail scanner's GET uses nothing up)
 *   POST     /sign-out             closes the session
 *   GET/POST /people/register      create a user ID: email + ID + name -> a verify link
 *   GET/POST /people/verify/:token a button that confirms the email and takes the ID
 *
 * Mail leaves through the email outbox on an SMTP connection of the API's own.
 */
export async function registerPeoplePages(app: FastifyInstance, deps: ApiDependencies): Promise<void> {
  const mailer = createSmtpMailer(deps.config.smtpUrl);
  const inFlight = new Set<Promise<unknown>>();
  app.addHook('onClose', async () => {
    await Promise.allSettled([...inFlight]);
    mailer.close();
  });
  const mail: PageMail = { people: { db: deps.db, mailer, config: deps.config }, inFlight };

  await registerPageScope(
    app,
    // SIGN_IN_RATE_LIMIT per client IP: sign-in, its link, user registration and verification.
    { db: deps.db, publicBaseUrl: deps.config.publicBaseUrl, rateLimit: deps.config.rateLimits.signInPerIp },
    (pages, tools) => {
      registerSignInPages(pages, tools, mail, deps.config.webSessionTtlMs);
      registerUserIdPages(pages, tools, mail.people);
    },
  );
}

/** Sign-in by emailed link, and sign-out. */
function registerSignInPages(pages: FastifyInstance, tools: PageTools, mail: PageMail, ttl: number): void {
  const { people, inFlight } = mail;
  const { db } = people;
  // The site root (a link typed by hand, a bookmark of the host): the accounts, or sign-in first.
  pages.get('/', async (_request, reply) => reply.status(303).header('location', '/accounts').send());

  pages.get<{ Querystring: { next?: string } }>('/sign-in', async (request, reply) => {
    const next = pageToReturnTo(request.query.next);
    if (await sessionUser(db, request.headers.cookie))
      return reply
        .status(303)
        .header('location', next ?? LANDING)
        .send();
    return sendAppPage(reply, signInFormPage(tools.csrfFor(request, reply), '', next));
  });

  pages.post('/sign-in', async (request, reply) => {
    tools.checkCsrf(request);
    const email = fieldOf(request.body, 'email')?.trim() ?? '';
    // The page that asked for the sign-in, kept for when the emailed link is opened in this browser.
    const next = pageToReturnTo(fieldOf(request.body, 'next'));
    // Without one, an older kept page is dropped: this sign-in did not come from it.
    reply.header(
      'set-cookie',
      next ? nextCookieHeader(next, mail.people.config.signInLinkTtlMs, tools.https) : clearedNextCookieHeader(tools.https),
    );
    // Sent after the answer, not before it: a known address must not answer slower than an
    // unknown one. Failures are logged, never shown.
    const sending = requestSignIn(people, email)
      .catch((err: unknown) => request.log.error({ err }, 'sign-in email failed'))
      .finally(() => inFlight.delete(sending));
    inFlight.add(sending);
    return sendAppPage(reply, checkEmailPage('sign-in'));
  });

  pages.get<{ Params: { token: string } }>('/sign-in/:token', async (request, reply) => {
    const state = await linkState(db, 'sign_in', request.params.token);
    if (state !== 'valid') return sendAppPage(reply, linkProblemPage(state, 'sign-in'));
    return sendAppPage(reply, confirmLinkPage('sign-in', `/sign-in/${request.params.token}`, tools.csrfFor(request, reply)));
  });

  pages.post<{ Params: { token: string } }>('/sign-in/:token', async (request, reply) => {
    tools.checkCsrf(request);
    const outcome = await consumeSignIn(db, request.params.token);
    if (typeof outcome === 'string') return sendAppPage(reply, linkProblemPage(outcome, 'sign-in'));
    const session = await openSession(db, outcome.userId, ttl);
    request.log.info({ userId: outcome.userId }, 'signed in');
    return reply
      .status(303)
      .header('set-cookie', [sessionCookieHeader(session.value, ttl, tools.https), clearedNextCookieHeader(tools.https)])
      .header('location', returnPathOf(request.headers.cookie))
      .send();
  });

  pages.post('/sign-out', async (request, reply) => {
    tools.checkCsrf(request);
    const user = await sessionUser(db, request.headers.cookie);
    if (user) await closeSession(db, user.sessionValue);
    return reply.status(303).header('set-cookie', clearedSessionCookieHeader(tools.https)).header('location', '/sign-in').send();
  });
}

/** A new user ID: the form, then the emailed link that confirms the address. */
function registerUserIdPages(pages: FastifyInstance, tools: PageTools, people: PeopleDeps): void {
  const { db } = people;
  pages.get('/people/register', async (request, reply) => sendAppPage(reply, registerFormPage(tools.csrfFor(request, reply))));

  pages.post('/people/register', async (request, reply) => {
    tools.checkCsrf(request);
    const values = {
      email: fieldOf(request.body, 'email')?.trim() ?? '',
      registeredId: fieldOf(request.body, 'registeredId')?.trim() ?? '',
      fullName: fieldOf(request.body, 'fullName')?.trim() ?? '',
    };
    const csrfToken = tools.csrfFor(request, reply);
    try {
      await requestUserId(people, values);
    } catch (err) {
      if (err instanceof PeopleRefusal) {
        return sendAppPage(reply, registerFormPage(csrfToken, values, err.fieldErrors, err.reason === 'id-taken' ? 409 : 400));
      }
      throw err;
    }
    return sendAppPage(reply, checkEmailPage('register'));
  });

  pages.get<{ Params: { token: string } }>('/people/verify/:token', async (request, reply) => {
    const state = await linkState(db, 'verify_email', request.params.token);
    if (state !== 'valid') return sendAppPage(reply, linkProblemPage(state, 'verify'));
    return sendAppPage(reply, confirmLinkPage('verify', `/people/verify/${request.params.token}`, tools.csrfFor(request, reply)));
  });

  pages.post<{ Params: { token: string } }>('/people/verify/:token', async (request, reply) => {
    tools.checkCsrf(request);
    const outcome = await verifyEmail(db, request.params.token);
    if (typeof outcome === 'string') return sendAppPage(reply, linkProblemPage(outcome, 'verify'));
    request.log.info({ userId: outcome.userId }, 'email verified; user ID registered');
    return sendAppPage(reply, verifiedPage(outcome.registeredId));
  });
}
