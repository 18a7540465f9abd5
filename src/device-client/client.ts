import { randomUUID, type KeyObject } from 'node:crypto';
import {
  deriveSessionKey,
  keysFromPublished,
  macRequest,
  newSessionKeyPair,
  newKeyPair,
  privateKeyFromSeed,
  requestSigningInput,
  SESSION_SCHEME,
  signBytes,
  type PublishedSigningKeys,
} from './protocol';
import { verifyAnswer, type SignedUsageAnswer, type UsageAnswerBody } from './answers';
import { fetchTransport, httpTransport, type DeviceTransport } from './transport';

/**
 * The library a device maker embeds (R16, R17): make a key pair, register with a token, report use
 * and check the signed answers offline. Everything it must keep between runs is in `DeviceState`
 * (plain JSON: the CLI stores it in a file). A report retried after a lost answer carries the same
 * report ID and a fresh signature, so the server answers it once and replays the stored answer.
 */

export interface DeviceIdentity {
  productId: string;
  serialNumber: string;
  hostname: string;
}

export interface DeviceState {
  /** The device's Ed25519 private key (32-byte seed, base64url). Never leaves the device. */
  privateKey: string;
  /** Its public half (base64url), sent at registration. */
  publicKey: string;
  instanceId?: string;
  credential?: string;
  credentialExpiresAt?: string;
  renewAfter?: string;
  accountId?: string;
  virtualAccountPath?: string;
  /** The last report sent and not yet answered: a retry reuses its ID. */
  pendingReport?: { reportId: string; usage: Record<string, number> };
  lastAnswer?: SignedUsageAnswer;
  /** The open session (docs/DEVICES.md "Sessions"): its ticket, key (base64url) and end. Secret as the private key. */
  session?: DeviceSession;
}

export interface DeviceSession {
  ticket: string;
  key: string;
  expiresAt: string;
}

export interface Registration {
  instanceId: string;
  accountId: string;
  virtualAccountPath: string;
  credential: string;
  expiresAt: string;
  renewAfter: string;
  alreadyRegistered: boolean;
}

/** A refusal from the service: the HTTP status, its code and every field at fault. */
export class DeviceApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fieldErrors: Array<{ field: string; reason: string }> = [],
    /** The server's clock (its Date header, ms), to correct a device clock that is off. */
    readonly serverTime?: number,
    /** How long the service asked to wait before the same request again (its Retry-After header, ms). */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'DeviceApiError';
  }
}

/** Keys just made, by the state holding them: the client made with that state takes the key object as is. */
const madeKeys = new WeakMap<object, { seed: string; key: KeyObject }>();

export function generateDeviceKeys(): Pick<DeviceState, 'privateKey' | 'publicKey'> {
  const { privateKey, d, x } = newKeyPair('Ed25519');
  const keys = { privateKey: d, publicKey: x };
  madeKeys.set(keys, { seed: d, key: privateKey });
  return keys;
}

export interface DeviceClientOptions {
  baseUrl: string;
  state: DeviceState;
  /** Attempts of a report or renewal when the network or the service fails (5xx); default 3. */
  attempts?: number;
  /** Longest wait before a retry that a 503's Retry-After may ask for (ms; default 30 s): a device never stalls longer. */
  maxRetryAfterMs?: number;
  /** The device's clock (default Date.now); a device without a real-time clock may be far off. */
  clock?: () => number;
  /** Sends through this instead of node:http(s) with keep-alive (tests count or fail requests with it). */
  fetch?: typeof fetch;
  /** Usage reports on a session (an HMAC each, not an Ed25519 signature); default true. */
  sessions?: boolean;
}

/** How the device authenticates a request: not at all, with its Ed25519 key, or on its session. */
type Auth = 'none' | 'signed' | 'session';

/** A session this close to its end is not used: the next report opens another. */
const SESSION_RENEW_MARGIN_MS = 60_000;

/** Refusals after which a session is dropped and the request sent once more on a new one. */
const SESSION_REFUSALS = new Set(['InvalidSession', 'SessionExpired', 'InvalidSignature', 'InvalidCredential']);

export class DeviceClient {
  readonly state: DeviceState;
  private readonly baseUrl: string;
  private readonly privateKey: KeyObject;
  private readonly attempts: number;
  private readonly maxRetryAfterMs: number;
  private readonly transport: DeviceTransport;
  private readonly clock: () => number;
  /** Reports on a session; turned off for this client's life when the service has no sessions route (404). */
  private sessions: boolean;
  /** The session key decoded, for the session it was read from. */
  private sessionKey?: { ticket: string; key: Buffer };
  /** Server time minus device time, learnt from a StaleRequest refusal. */
  clockOffsetMs = 0;

  constructor(options: DeviceClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.state = options.state;
    const made = madeKeys.get(options.state);
    this.privateKey =
      made?.seed === options.state.privateKey
        ? made.key
        : privateKeyFromSeed(Buffer.from(options.state.privateKey, 'base64url'), Buffer.from(options.state.publicKey ?? '', 'base64url'));
    this.attempts = options.attempts ?? 3;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? 30_000;
    this.transport = options.fetch ? fetchTransport(options.fetch, this.baseUrl) : httpTransport(this.baseUrl);
    this.clock = options.clock ?? Date.now;
    this.sessions = options.sessions ?? true;
  }

  /** A new device: a fresh key pair, nothing registered yet. */
  static create(baseUrl: string, options: Omit<DeviceClientOptions, 'baseUrl' | 'state'> = {}): DeviceClient {
    return new DeviceClient({ ...options, baseUrl, state: generateDeviceKeys() });
  }

  async register(token: string, identity: DeviceIdentity): Promise<Registration> {
    const registration = (await this.send(
      'POST',
      '/v1/devices/registrations',
      { token, ...identity, publicKey: this.state.publicKey },
      'none',
    )) as Registration;
    this.remember(registration);
    return registration;
  }

  /**
   * Reports use and returns the verified answer. Without a report ID, a pending unanswered report of
   * the same use is retried under its ID; otherwise a new ID is made.
   */
  async report(
    usage: Record<string, number>,
    options: { reportId?: string; keys?: Map<string, KeyObject> } = {},
  ): Promise<SignedUsageAnswer> {
    const pending = this.state.pendingReport;
    const reportId =
      options.reportId ?? (pending && JSON.stringify(pending.usage) === JSON.stringify(usage) ? pending.reportId : `r-${randomUUID()}`);
    this.state.pendingReport = { reportId, usage };
    const path = `/v1/devices/${this.instanceId()}/usage-reports`;
    const answer = (await (this.sessions
      ? this.sendOnSession('POST', path, { reportId, usage })
      : this.sendSigned('POST', path, { reportId, usage }))) as SignedUsageAnswer;
    const verified = this.verify(answer, options.keys ?? (await this.keysFor(answer.keyId)));
    if (!verified.ok) throw new DeviceApiError(0, 'UnverifiedAnswer', `the answer cannot be trusted: ${verified.reason}`);
    // A genuine answer to an earlier report (replayed by whoever sits in between) says nothing of this one.
    if (verified.body.reportId !== reportId) {
      throw new DeviceApiError(0, 'UnverifiedAnswer', `the answer is to report ${verified.body.reportId}, not to ${reportId}`);
    }
    // The service answers every SKU reported, with its count, and none other.
    const answered = verified.body.usage;
    if (answered.length !== Object.keys(usage).length || answered.some((u) => usage[u.sku] !== u.count)) {
      throw new DeviceApiError(
        0,
        'UnverifiedAnswer',
        `the answer counts ${answered.map((u) => `${u.sku}=${u.count}`).join(', ') || 'nothing'}, not the use reported`,
      );
    }
    this.state.pendingReport = undefined;
    this.state.lastAnswer = answer;
    return answer;
  }

  async renew(): Promise<Registration> {
    const renewed = (await this.sendSigned('POST', `/v1/devices/${this.instanceId()}/credential-renewals`, undefined)) as Registration;
    this.remember(renewed);
    return renewed;
  }

  /**
   * Opens a session (docs/DEVICES.md "Sessions"), signed with the device's key: a fresh X25519 pair,
   * the session key agreed with the server's half. Later reports carry an HMAC under it.
   */
  async openSession(): Promise<DeviceSession> {
    const instanceId = this.instanceId();
    const own = newSessionKeyPair();
    const opened = (await this.sendSigned('POST', `/v1/devices/${instanceId}/sessions`, { publicKey: own.publicKey })) as {
      ticket: string;
      serverPublicKey: string;
      expiresAt: string;
    };
    const key = deriveSessionKey(own.privateKey, opened.serverPublicKey, instanceId, {
      devicePublicKey: own.publicKey,
      serverPublicKey: opened.serverPublicKey,
    });
    this.state.session = { ticket: opened.ticket, key: key.toString('base64url'), expiresAt: opened.expiresAt };
    return this.state.session;
  }

  /**
   * Opens a session; false when the service answers 404 (a release before sessions, or a stand-in
   * serving reports only): this client then signs with its key, as with `sessions: false`.
   */
  private async openedSessionOr404(): Promise<boolean> {
    try {
      await this.openSession();
      return true;
    } catch (err) {
      if (!(err instanceof DeviceApiError && err.status === 404)) throw err;
      this.sessions = false;
      return false;
    }
  }

  /**
   * A request on the session, opened first when there is none or it is about to end. Refused as
   * not (or no longer) a session the server knows, it is sent once more on a new one: the server
   * rotated its keys, the session expired early, or the credential behind it changed.
   */
  private async sendOnSession(method: string, path: string, body: unknown): Promise<unknown> {
    const session = this.state.session;
    const fresh = !session || Date.parse(session.expiresAt) - SESSION_RENEW_MARGIN_MS <= this.clock() + this.clockOffsetMs;
    if (fresh && !(await this.openedSessionOr404())) return this.sendSigned(method, path, body);
    try {
      return await this.sendSigned(method, path, body, 'session');
    } catch (err) {
      if (fresh || !(err instanceof DeviceApiError && err.status === 401 && SESSION_REFUSALS.has(err.code))) throw err;
      this.state.session = undefined;
      await this.openSession();
      return this.sendSigned(method, path, body, 'session');
    }
  }

  /** True when the credential is due for renewal (six months after it was issued). */
  shouldRenew(now = Date.now()): boolean {
    return Boolean(this.state.renewAfter && Date.parse(this.state.renewAfter) <= now);
  }

  private keyCache?: Map<string, KeyObject>;

  /** The published signing keys (cached; fetched again when an answer names an unknown key). */
  async signingKeys(refresh = false): Promise<Map<string, KeyObject>> {
    if (!this.keyCache || refresh) {
      this.keyCache = keysFromPublished((await this.send('GET', '/v1/license-signing-keys', undefined, 'none')) as PublishedSigningKeys);
    }
    return this.keyCache;
  }

  /** The published keys, fetched again when they lack `keyId`: the service rotated its signing key. */
  private async keysFor(keyId: string): Promise<Map<string, KeyObject>> {
    const cached = await this.signingKeys();
    return cached.has(keyId) ? cached : this.signingKeys(true);
  }

  /** Offline: does the answer carry a valid signature by one of `keys`, and is it about this instance? */
  verify(answer: SignedUsageAnswer, keys: Map<string, KeyObject>): { ok: true; body: UsageAnswerBody } | { ok: false; reason: string } {
    const result = verifyAnswer(answer, keys);
    if (result.ok && this.state.instanceId && result.body.instanceId !== this.state.instanceId) {
      return { ok: false, reason: `the answer is about instance ${result.body.instanceId}, not this one` };
    }
    return result;
  }

  private instanceId(): string {
    if (!this.state.instanceId || !this.state.credential) throw new Error('this device is not registered yet');
    return this.state.instanceId;
  }

  private remember(registration: Registration): void {
    // A session holds the claims of the credential that opened it: the next report opens one on this credential.
    this.state.session = undefined;
    Object.assign(this.state, {
      instanceId: registration.instanceId,
      credential: registration.credential,
      credentialExpiresAt: registration.expiresAt,
      renewAfter: registration.renewAfter,
      accountId: registration.accountId,
      virtualAccountPath: registration.virtualAccountPath,
    });
  }

  /**
   * A signed request, retried on network failures and 5xx with a fresh signature each time. A
   * device whose clock is off is refused as stale once: it takes the server's time and signs again.
   */
  private async sendSigned(method: string, path: string, body: unknown, auth: Auth = 'signed'): Promise<unknown> {
    let correctedClock = false;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.send(method, path, body, auth);
      } catch (err) {
        if (err instanceof DeviceApiError && err.code === 'StaleRequest' && err.serverTime !== undefined && !correctedClock) {
          correctedClock = true;
          this.clockOffsetMs = err.serverTime - this.clock();
          attempt--;
          continue;
        }
        // 429 (a rate limit) and 503 (shed or a database outage) say when to come back: Retry-After.
        const retryable = !(err instanceof DeviceApiError) || err.status >= 500 || err.status === 429;
        if (!retryable || attempt >= this.attempts) throw err;
        // The service's Retry-After (a database outage answers 503 with one), bounded; else a short backoff.
        const asked = err instanceof DeviceApiError ? err.retryAfterMs : undefined;
        await new Promise((resolve) =>
          setTimeout(resolve, asked !== undefined ? Math.min(asked, this.maxRetryAfterMs) : 100 * 2 ** attempt),
        );
      }
    }
  }

  /** Signs a request with the device's key: method, path, timestamp and the exact body bytes. */
  signedHeaders(method: string, path: string, body: string, timestamp = this.clock() + this.clockOffsetMs): Record<string, string> {
    const ts = String(timestamp);
    return {
      authorization: `Device ${this.state.credential}`,
      'x-device-timestamp': ts,
      'x-device-signature': signBytes(this.privateKey, requestSigningInput(method, path, ts, body)),
    };
  }

  /** Authenticates a request on the open session: its ticket, and the HMAC of what a signature would cover. */
  sessionHeaders(method: string, path: string, body: string, timestamp = this.clock() + this.clockOffsetMs): Record<string, string> {
    const session = this.state.session;
    if (!session) throw new Error('no session is open');
    if (this.sessionKey?.ticket !== session.ticket)
      this.sessionKey = { ticket: session.ticket, key: Buffer.from(session.key, 'base64url') };
    const ts = String(timestamp);
    return {
      authorization: `${SESSION_SCHEME} ${session.ticket}`,
      'x-device-timestamp': ts,
      'x-device-signature': macRequest(this.sessionKey.key, requestSigningInput(method, path, ts, body)),
    };
  }

  private async send(method: string, path: string, body: unknown, auth: Auth): Promise<unknown> {
    const text = body === undefined ? '' : JSON.stringify(body);
    const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
    if (auth === 'signed') Object.assign(headers, this.signedHeaders(method, path, text));
    if (auth === 'session') Object.assign(headers, this.sessionHeaders(method, path, text));
    const response = await this.transport(method, path, headers, body === undefined ? undefined : text);
    const payload = jsonOrUndefined(response.text) as
      { error?: string; message?: string; errors?: Array<{ field: string; reason: string }> } | undefined;
    if (response.status < 200 || response.status > 299) {
      const date = response.header('date');
      throw new DeviceApiError(
        response.status,
        payload?.error ?? 'HttpError',
        payload?.message ?? `HTTP ${response.status}`,
        payload?.errors,
        date ? Date.parse(date) : undefined,
        retryAfterMsOf(response.header('retry-after') ?? null),
      );
    }
    return payload;
  }
}

function jsonOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Retry-After as delay-seconds or an HTTP date, in ms from now; undefined when absent or unreadable. */
export function retryAfterMsOf(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
