/**
 * An open-loop schedule: work started at a fixed rate whatever the server answers. A closed loop
 * (N in flight) slows down with the server, so it measures the most N callers get, never whether a
 * given rate is served in time; a fleet of independent devices is an open loop.
 */

/** 1 ms: each report leaves at most about a tick after it is due (10 ms ticks sent 20 at once and added up to 10 ms to every latency). */
const TICK_MS = 1;

/**
 * Calls `start(n, dueMs)` for n = 0, 1, ... at `ratePerSecond` for `durationS`, on 1 ms ticks that
 * catch up with the schedule (a late tick does not lower the offered rate). `dueMs` is when the
 * schedule wanted it started (process.hrtime, ms), so a caller can time from it and a late start
 * counts against the server, not for it. Resolves with the seconds the schedule took.
 */
export function startAtRate(ratePerSecond: number, durationS: number, start: (n: number, dueMs: number) => void): Promise<number> {
  const total = Math.floor(ratePerSecond * durationS);
  const startedMs = nowMs();
  let started = 0;
  return new Promise((resolve) => {
    const tick = () => {
      const elapsedS = (nowMs() - startedMs) / 1000;
      const due = Math.min(total, Math.floor(ratePerSecond * elapsedS));
      for (; started < due; started++) start(started, startedMs + (started * 1000) / ratePerSecond);
      if (started >= total) {
        clearInterval(timer);
        resolve((nowMs() - startedMs) / 1000);
      }
    };
    const timer = setInterval(tick, TICK_MS);
  });
}

export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
