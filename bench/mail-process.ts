/**
 * The benchmark's SMTP server in a process of its own (started by startBenchMailProcess in
 * bench/mail.ts): the workers' emails are received here, not in the driver, so their CPU is not
 * the driver's nor the API's it hosts. Answers the driver's questions (MailCall) over IPC.
 */
import { startBenchMailCatcher, type BenchMailCatcher, type MailCall, type MailMessage } from './mail';

function send(message: MailMessage): void {
  process.send?.(message);
}

/** The catcher's answer to one call (its arguments as the driver's BenchMailServer sent them). */
function resultOf(catcher: BenchMailCatcher, { method, args }: MailCall): unknown {
  const [first, second, third] = args as [string, never, never];
  switch (method) {
    case 'next':
      return catcher.next(first, second, third);
    case 'ofTemplate':
      return catcher.ofTemplate(first);
    case 'count':
      return catcher.count(first);
    case 'whenCount':
      return catcher.whenCount(first, second, third);
    case 'total':
      return catcher.total();
  }
}

async function answer(catcher: BenchMailCatcher, call: MailCall): Promise<void> {
  try {
    send({ type: 'reply', id: call.id, result: await resultOf(catcher, call) });
  } catch (err) {
    send({ type: 'reply', id: call.id, error: (err as Error).message });
  }
}

startBenchMailCatcher()
  .then((catcher) => {
    process.on('message', (message: MailCall | { type: 'stop' }) => {
      if (message.type === 'call') void answer(catcher, message);
      else if (message.type === 'stop') void catcher.stop().finally(() => process.exit(0));
    });
    // The driver gone (its IPC channel closed): nothing left to receive mail for.
    process.once('disconnect', () => process.exit(0));
    send({ type: 'ready', port: catcher.port });
  })
  .catch((err: Error) => {
    send({ type: 'error', message: String(err.stack ?? err) });
    process.exit(1);
  });
