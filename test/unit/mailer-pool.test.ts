import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { createSmtpMailer, SMTP_POOL_MAX_CONNECTIONS, type OutgoingEmail } from '../../src/email/mailer';
import { permanentSmtpRefusal } from '../../src/email/smtp-failures';

/**
 * Issue 16: the SMTP mailer keeps its connections and reuses them (an in-process SMTP server on
 * a free port counts them), and the failures the outbox tells apart still reach it: a server
 * that is down rejects the send (retried), a 5xx is a permanent refusal with its answer.
 */
interface CountingServer {
  port: number;
  connections: number;
  messageIds: string[];
  stop(): Promise<void>;
}

async function startServer(port = 0): Promise<CountingServer> {
  const state = { connections: 0, messageIds: [] as string[] };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    closeTimeout: 200,
    onConnect(_session, callback) {
      state.connections += 1;
      callback();
    },
    onRcptTo(address, _session, callback) {
      if (address.address.startsWith('refused')) {
        callback(Object.assign(new Error('5.1.1 User unknown'), { responseCode: 550 }));
        return;
      }
      callback();
    },
    onData(stream, _session, callback) {
      let raw = '';
      stream.on('data', (chunk: Buffer) => (raw += chunk.toString()));
      stream.on('end', () => {
        state.messageIds.push(/^Message-ID: (.*)$/im.exec(raw)?.[1]?.trim() ?? '');
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const bound = (server.server.address() as AddressInfo).port;
  return Object.assign(state, { port: bound, stop: () => new Promise<void>((resolve) => server.close(() => resolve())) });
}

function email(n: number, to = `r${n}@example.test`): OutgoingEmail {
  return {
    from: 'Fulfillment <noreply@example.test>',
    to,
    subject: `message ${n}`,
    text: 'text',
    html: '<p>html</p>',
    messageId: `<m${n}@example.test>`,
    headers: { 'X-Idempotency-Key': `k${n}` },
  };
}

test('twenty emails, ten at a time, share at most the pool of connections and keep their Message-IDs', async () => {
  const server = await startServer();
  const mailer = createSmtpMailer(`smtp://127.0.0.1:${server.port}`);
  try {
    for (const batch of [0, 10]) {
      await Promise.all(Array.from({ length: 10 }, (_, i) => mailer.send(email(batch + i))));
    }
    expect(server.connections).toBeLessThanOrEqual(SMTP_POOL_MAX_CONNECTIONS);
    expect(server.messageIds.sort()).toEqual(Array.from({ length: 20 }, (_, n) => `<m${n}@example.test>`).sort());
  } finally {
    mailer.close();
    await server.stop();
  }
});

test('a 5xx refusal is permanent with its answer, and the mailer sends the next email', async () => {
  const server = await startServer();
  const mailer = createSmtpMailer(`smtp://127.0.0.1:${server.port}`);
  try {
    const refused = await mailer.send(email(1, 'refused@example.test')).catch((err: unknown) => err);
    expect(permanentSmtpRefusal(refused)).toMatchObject({ responseCode: 550 });
    await mailer.send(email(2));
    expect(server.messageIds).toEqual(['<m2@example.test>']);
  } finally {
    mailer.close();
    await server.stop();
  }
});

test('SMTP down: the send rejects as temporary; once it is back on the same port the same mailer sends', async () => {
  const first = await startServer();
  const mailer = createSmtpMailer(`smtp://127.0.0.1:${first.port}`);
  try {
    await mailer.send(email(1));
    await first.stop();
    const down = await mailer.send(email(2)).catch((err: unknown) => err);
    expect(down).toMatchObject({ message: expect.stringMatching(/ECONNREFUSED|closed/) });
    expect(permanentSmtpRefusal(down)).toBeUndefined();
    const again = await startServer(first.port);
    try {
      await mailer.send(email(2));
      expect(again.messageIds).toEqual(['<m2@example.test>']);
    } finally {
      await again.stop();
    }
  } finally {
    mailer.close();
  }
});
