/**
 * The typed client sends a request again when the API turned it away unprocessed (429
 * TooManyRequests, 503 Overloaded), after the Retry-After it was given, a bounded number of times;
 * every other refusal, a database outage included, reaches the caller at once.
 */
import { ApiError, LicenseFulfillmentClient } from '../../src/api-client';

function answering(...answers: Array<{ status: number; error?: string; retryAfter?: string }>) {
  const calls: number[] = [];
  const fetch = (async () => {
    const answer = answers[Math.min(calls.length, answers.length - 1)];
    calls.push(answer.status);
    const body = answer.error ? { error: answer.error, message: 'turned away' } : { status: 'ok' };
    return new Response(JSON.stringify(body), {
      status: answer.status,
      headers: { 'content-type': 'application/json', ...(answer.retryAfter ? { 'retry-after': answer.retryAfter } : {}) },
    });
  }) as typeof globalThis.fetch;
  return { fetch, calls };
}

const clientWith = (fetch: typeof globalThis.fetch, retries?: number) =>
  new LicenseFulfillmentClient({ baseUrl: 'http://api.test', apiKey: 'lfk_x', fetch, retries, maxRetryAfterMs: 10 });

test('a 429 TooManyRequests and a 503 Overloaded are sent again after their Retry-After, then the answer is returned', async () => {
  const { fetch, calls } = answering(
    { status: 429, error: 'TooManyRequests', retryAfter: '1' },
    { status: 503, error: 'Overloaded', retryAfter: '2' },
    { status: 200 },
  );
  await expect(clientWith(fetch).health()).resolves.toEqual({ status: 'ok' });
  expect(calls).toEqual([429, 503, 200]);
});

test('after `retries` more attempts the refusal reaches the caller as an ApiError', async () => {
  const { fetch, calls } = answering({ status: 429, error: 'TooManyRequests', retryAfter: '1' });
  const refused = await clientWith(fetch, 2)
    .health()
    .catch((err: unknown) => err);
  expect(refused).toBeInstanceOf(ApiError);
  expect(refused).toMatchObject({ status: 429, code: 'TooManyRequests' });
  expect(calls).toEqual([429, 429, 429]);
});

test('other refusals are not sent again: a 503 DatabaseUnavailable, a 400', async () => {
  for (const answer of [
    { status: 503, error: 'DatabaseUnavailable', retryAfter: '5' },
    { status: 400, error: 'ValidationFailed' },
  ]) {
    const { fetch, calls } = answering(answer, { status: 200 });
    await expect(clientWith(fetch).health()).rejects.toMatchObject({ status: answer.status, code: answer.error });
    expect(calls).toEqual([answer.status]);
  }
});
