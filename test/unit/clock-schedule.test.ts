/**
 * ensureLicenseClockSchedule against a stub of the client's schedule API: only a Schedule this
 * deployment cannot open (the codec's PayloadKeyError) is deleted and made again; any other
 * failure to update it (the server unavailable, a deadline) fails the call and keeps it, with
 * an operator's pause and notes.
 */
import { ScheduleAlreadyRunning, type Client } from '@temporalio/client';
import { ensureLicenseClockSchedule } from '../../src/licensing/clock-schedule';
import { PayloadKeyError } from '../../src/temporal/payload-codec';

function clientWhoseUpdateFails(failure: Error) {
  const calls: string[] = [];
  let created = 0;
  const client = {
    schedule: {
      create: () => {
        calls.push('create');
        return created++ === 0 ? Promise.reject(new ScheduleAlreadyRunning('exists', 'clock')) : Promise.resolve();
      },
      getHandle: () => ({
        update: () => (calls.push('update'), Promise.reject(failure)),
        delete: () => (calls.push('delete'), Promise.resolve()),
      }),
    },
  } as unknown as Client;
  return { client, calls };
}

const options = { taskQueue: 'q', intervalMs: 60_000, scheduleId: 'clock' };

test('a Schedule sealed under a key this deployment does not hold is replaced (also when the client wraps the error)', async () => {
  const wrapped = new Error('decode failed', {
    cause: new PayloadKeyError('payload sealed with key "k1", which this process does not hold'),
  });
  for (const failure of [new PayloadKeyError('altered'), wrapped]) {
    const { client, calls } = clientWhoseUpdateFails(failure);
    expect(await ensureLicenseClockSchedule(client, options)).toBe('replaced');
    expect(calls).toEqual(['create', 'update', 'delete', 'create']);
  }
});

test('any other failure to update it fails the call and deletes nothing', async () => {
  const unavailable = Object.assign(new Error('14 UNAVAILABLE: connection refused'), { code: 14 });
  const { client, calls } = clientWhoseUpdateFails(unavailable);
  await expect(ensureLicenseClockSchedule(client, options)).rejects.toBe(unavailable);
  expect(calls).toEqual(['create', 'update']);
});
