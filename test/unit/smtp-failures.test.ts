import { permanentSmtpRefusal } from '../../src/email/smtp-failures';

/** Issue 18 item 1: which SMTP failures are permanent (settled `failed`) and which are retried. */
test.each([
  [
    '550 unknown mailbox',
    { code: 'EENVELOPE', responseCode: 550, response: '550 5.1.1 <a@b.test>: User unknown' },
    '550 5.1.1 <a@b.test>: User unknown',
  ],
  ['553 address not allowed', { responseCode: 553, response: '553 5.1.3 bad address' }, '553 5.1.3 bad address'],
  ['554 message rejected', { code: 'EMESSAGE', responseCode: 554, response: '554 5.7.1 rejected as spam' }, '554 5.7.1 rejected as spam'],
  ['552 too large, no response text', { responseCode: 552, message: 'Message size exceeds limit' }, 'Message size exceeds limit'],
])('%s is permanent, with the server answer', (_name, err, answer) => {
  expect(permanentSmtpRefusal(err)).toEqual({ responseCode: err.responseCode, answer });
});

test.each([
  ['421 closing', { responseCode: 421, response: '421 4.3.2 try later' }],
  ['450 greylisted', { responseCode: 450, response: '450 4.2.0 greylisted' }],
  ['451 local error', { responseCode: 451 }],
  ['connection refused', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:25'), { code: 'ESOCKET' })],
  ['timeout', Object.assign(new Error('Greeting never received'), { code: 'ETIMEDOUT' })],
  ['not an error', 'boom'],
  ['null', null],
])('%s is temporary (retried with backoff)', (_name, err) => {
  expect(permanentSmtpRefusal(err)).toBeUndefined();
});
