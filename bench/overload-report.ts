/**
 * The overload part's figures (bench/overload.ts) and how they read: a row per figure for the
 * summary table and a section of BENCHMARKS.md. Pure; imports nothing from the rest of the bench.
 */

export interface OverloadResult {
  /** The booking's capacity, measured first: closed loop, `capacityConnections` in flight. */
  capacity: { requestsPerSecond: number; p99Ms: number; connections: number; seconds: number };
  /** How the API under load was configured (API_MAX_IN_FLIGHT and friends; the per-key limit). */
  loadShedding: { maxInFlight: number; maxEventLoopDelayMs: number; maxHeapUsedMB: number; retryAfterS: number };
  perApiKeyLimit: string;
  /** Offered ÷ capacity. */
  factor: number;
  offered: number;
  offeredPerSecond: number;
  seconds: number;
  /** 2xx answers. */
  accepted: number;
  acceptedPerSecond: number;
  /** 503 answers (shed). */
  shed: number;
  /** 429 answers (rate limited). */
  throttled: number;
  /** Any other status. */
  otherStatuses: Record<string, number>;
  /** No answer: a connection error or no answer within the client's time-out. */
  noAnswer: number;
  timeoutMs: number;
  acceptedLatencyMs: { p50: number; p99: number; max: number };
  shedLatencyMs: { p50: number; p99: number; max: number };
  /** Accepted (2xx) bookings whose order is not in Postgres once the worker recorded none more for `stallS`: must be 0. */
  lost: number;
  /** Shed (503) bookings whose order is in Postgres anyway: must be 0 (a shed request does nothing). */
  shedButBooked: number;
  /** Seconds after the load until every accepted booking was in Postgres (or the check gave up). */
  recordedAfterS: number;
  stallS: number;
}

const n = (value: number, digits = 0) => (Number.isFinite(value) ? value.toFixed(digits) : '-');

/** Rows of the summary table: figure, value, target, note. */
export function overloadRows(o: OverloadResult): string[][] {
  return [
    [
      `overload: booking offered at ${n(o.factor, 1)}x capacity (${n(o.capacity.requestsPerSecond, 1)}/s): offered, accepted, shed 503, throttled 429, no answer`,
      `${o.offered}, ${o.accepted}, ${o.shed}, ${o.throttled}, ${o.noAnswer}`,
      'no answer 0',
      o.noAnswer === 0 ? 'met' : 'NOT met',
    ],
    [
      'overload: accepted per s; p99 of accepted ms; shed answered in p99 ms',
      `${n(o.acceptedPerSecond, 1)}; ${n(o.acceptedLatencyMs.p99)}; ${n(o.shedLatencyMs.p99)}`,
      '',
      '',
    ],
    [
      'overload: lost (accepted, not in Postgres); shed but booked',
      `${o.lost}; ${o.shedButBooked}`,
      '0; 0',
      o.lost + o.shedButBooked === 0 ? 'met' : 'NOT met',
    ],
  ];
}

export function overloadMarkdown(o: OverloadResult): string[] {
  const s = o.loadShedding;
  return [
    '## Overload: load shedding (part 11)',
    '',
    `Capacity first: \`POST /v1/orders\` in a closed loop, ${o.capacity.connections} connections for ${n(o.capacity.seconds)} s: ` +
      `${n(o.capacity.requestsPerSecond, 1)} bookings/s, p99 ${n(o.capacity.p99Ms)} ms. Then ${n(o.factor, 1)}x that offered in an open loop ` +
      `(${n(o.offeredPerSecond, 1)}/s for ${n(o.seconds, 1)} s, each request sent on schedule whatever the answers; client time-out ${o.timeoutMs / 1000} s) ` +
      `to an API with the production defaults: API_MAX_IN_FLIGHT ${s.maxInFlight}, API_MAX_EVENT_LOOP_DELAY ${s.maxEventLoopDelayMs} ms, ` +
      `API_MAX_HEAP_USED_MB ${s.maxHeapUsedMB}, Retry-After ${s.retryAfterS} s; per-key limit ${o.perApiKeyLimit} (one key drives it all).`,
    '',
    '| offered | accepted (2xx) | shed (503) | throttled (429) | other | no answer | accepted/s | accepted p50 / p99 / max ms | shed p99 ms | lost | shed but booked |',
    '|---:|---:|---:|---:|---|---:|---:|---|---:|---:|---:|',
    `| ${o.offered} | ${o.accepted} | ${o.shed} | ${o.throttled} | ${JSON.stringify(o.otherStatuses)} | ${o.noAnswer} | ${n(o.acceptedPerSecond, 1)} | ` +
      `${n(o.acceptedLatencyMs.p50)} / ${n(o.acceptedLatencyMs.p99)} / ${n(o.acceptedLatencyMs.max)} | ${n(o.shedLatencyMs.p99)} | ${o.lost} | ${o.shedButBooked} |`,
    '',
    `Lost counts accepted bookings whose order row is not in Postgres once the worker, which records each one after its 201, ` +
      `went ${o.stallS} s without recording one more; every accepted booking was in Postgres ${n(o.recordedAfterS)} s after the load ended` +
      (o.lost ? ' (or the check gave up).' : '.'),
  ];
}
