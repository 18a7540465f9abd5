/**
 * The pure pieces of the benchmark (bench/report.ts, bench/scenarios.ts, bench/parked.ts):
 * percentiles, the billable-action counting rule, shapes for the engine-limit workflow, spreads,
 * slopes, the mix and the reminder interval choice. The benchmark itself runs with `npm run bench`.
 */
import { temporal } from '@temporalio/proto';
import { parseHeaders } from '../../bench/mail';
import { chooseReminderInterval } from '../../bench/parked';
import {
  countHistoryCost,
  eventTypeName,
  formatTable,
  linearFit,
  markdownTable,
  meanCost,
  percentile,
  shapeOfHistory,
  spreadOf,
  summarize,
  toCostEvent,
  typicalShape,
  type CostEvent,
} from '../../bench/report';
import { countKinds, DEFAULT_MIX, kindSequence } from '../../bench/scenarios';
import { samplePerGroup } from '../../bench/costs';

const E = (type: string, extra: Partial<CostEvent> = {}): CostEvent => ({ type, ...extra });

describe('percentile (nearest rank)', () => {
  const hundred = Array.from({ length: 100 }, (_, i) => i + 1);

  test('picks a measured value: p50 of 1..100 is 50, p95 is 95, p99 is 99, p100 is the maximum', () => {
    // 37 and 100 are coprime: a fixed permutation of 1..100, so the input is not sorted.
    const shuffled = hundred.map((_, i) => hundred[(i * 37) % 100]);
    expect(percentile(shuffled, 50)).toBe(50);
    expect(percentile(shuffled, 95)).toBe(95);
    expect(percentile(shuffled, 99)).toBe(99);
    expect(percentile(shuffled, 100)).toBe(100);
  });

  test('small samples: the p99 of 10 values is the largest, the p50 the 5th smallest', () => {
    const values = [10, 1, 9, 2, 8, 3, 7, 4, 6, 5];
    expect(percentile(values, 99)).toBe(10);
    expect(percentile(values, 50)).toBe(5);
    expect(percentile([42], 50)).toBe(42);
  });

  test("does not reorder the caller's array, refuses a percentile outside (0, 100], is NaN for no values", () => {
    const values = [3, 1, 2];
    percentile(values, 50);
    expect(values).toEqual([3, 1, 2]);
    expect(() => percentile(values, 0)).toThrow(RangeError);
    expect(() => percentile(values, 101)).toThrow(RangeError);
    expect(percentile([], 50)).toBeNaN();
  });

  test('summarize gives count, p50/p95/p99, max and mean', () => {
    expect(summarize([1, 2, 3, 4])).toEqual({ count: 4, p50: 2, p95: 4, p99: 4, max: 4, mean: 2.5 });
    expect(summarize([]).count).toBe(0);
  });
});

describe('billable actions from a history', () => {
  /** A direct order's history, reduced: start, a local activity, activities, signals, an upsert, completion. */
  const directOrder: CostEvent[] = [
    E('WorkflowExecutionStarted'),
    E('WorkflowTaskScheduled'),
    E('WorkflowTaskStarted'),
    E('WorkflowTaskCompleted'),
    E('MarkerRecorded', { markerName: 'core_local_activity', workflowTaskCompletedEventId: 4 }),
    E('ActivityTaskScheduled'),
    E('WorkflowExecutionSignaled'),
    E('WorkflowExecutionSignaled'),
    E('ActivityTaskStarted', { attempt: 1 }),
    E('ActivityTaskCompleted'),
    E('WorkflowTaskScheduled'),
    E('WorkflowTaskStarted'),
    E('WorkflowTaskCompleted'),
    E('ActivityTaskScheduled'),
    E('ActivityTaskStarted', { attempt: 3 }),
    E('ActivityTaskCompleted'),
    E('WorkflowTaskScheduled'),
    E('WorkflowTaskStarted'),
    E('WorkflowTaskCompleted'),
    E('UpsertWorkflowSearchAttributes'),
    E('WorkflowExecutionCompleted'),
  ];

  test('counts each category by the rule: retries are actions, a local activity per task, upserts per command', () => {
    const cost = countHistoryCost(directOrder);
    expect(cost.historyEvents).toBe(directOrder.length);
    expect(cost.workflowTasks).toBe(3);
    expect(cost.activitiesScheduled).toBe(2);
    expect(cost.actions).toEqual({
      workflowStarted: 1,
      activities: 4, // 1 + 3 attempts
      localActivities: 1,
      timers: 0,
      signalsReceived: 2,
      signalsSent: 0,
      updates: 0,
      searchAttributeUpserts: 1,
      childWorkflows: 0,
      total: 9,
    });
  });

  test('local activities recorded by one workflow task are one action; by two tasks, two', () => {
    const oneTask = [
      E('WorkflowExecutionStarted'),
      E('MarkerRecorded', { markerName: 'core_local_activity', workflowTaskCompletedEventId: 4 }),
      E('MarkerRecorded', { markerName: 'core_local_activity', workflowTaskCompletedEventId: 4 }),
    ];
    expect(countHistoryCost(oneTask).actions.localActivities).toBe(1);
    const twoTasks = [...oneTask, E('MarkerRecorded', { markerName: 'core_local_activity', workflowTaskCompletedEventId: 9 })];
    expect(countHistoryCost(twoTasks).actions.localActivities).toBe(2);
    // A patch marker is not a local activity.
    expect(
      countHistoryCost([E('MarkerRecorded', { markerName: 'core_patch', workflowTaskCompletedEventId: 4 })]).actions.localActivities,
    ).toBe(0);
  });

  test('timers (also cancelled ones), Updates, signals sent and child workflows are actions; a continue-as-new run is a new start', () => {
    const cost = countHistoryCost([
      E('WorkflowExecutionStarted'),
      E('TimerStarted'),
      E('TimerCanceled'),
      E('WorkflowExecutionUpdateAccepted'),
      E('WorkflowExecutionUpdateCompleted'),
      E('SignalExternalWorkflowExecutionInitiated'),
      E('StartChildWorkflowExecutionInitiated'),
      E('WorkflowExecutionContinuedAsNew'),
      // the next run, its event IDs start again at 1
      E('WorkflowExecutionStarted'),
      E('MarkerRecorded', { markerName: 'core_local_activity', workflowTaskCompletedEventId: 4 }),
      E('MarkerRecorded', { markerName: 'core_local_activity', workflowTaskCompletedEventId: 4 }),
    ]);
    expect(cost.continueAsNew).toBe(1);
    expect(cost.actions).toMatchObject({
      workflowStarted: 2,
      timers: 1,
      updates: 1,
      signalsSent: 1,
      childWorkflows: 1,
      localActivities: 1,
    });
    expect(cost.actions.total).toBe(2 + 1 + 1 + 1 + 1 + 1);
  });

  test('an activity scheduled but never started costs nothing; events that are not actions cost nothing', () => {
    const cost = countHistoryCost([
      E('ActivityTaskScheduled'),
      E('ActivityTaskCanceled'),
      E('WorkflowTaskScheduled'),
      E('WorkflowExecutionCompleted'),
    ]);
    expect(cost.actions.total).toBe(0);
    expect(cost.historyEvents).toBe(4);
  });

  test("reads the SDK's history events: enum numbers, attempts, marker names", () => {
    const { EventType } = temporal.api.enums.v1;
    expect(eventTypeName(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)).toBe('ActivityTaskScheduled');
    expect(eventTypeName('EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED')).toBe('WorkflowExecutionUpdateAccepted');
    expect(eventTypeName(undefined)).toBe('Unspecified');
    expect(
      toCostEvent({ eventType: EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED, activityTaskStartedEventAttributes: { attempt: 2 } }),
    ).toEqual({ type: 'ActivityTaskStarted', attempt: 2 });
    expect(
      toCostEvent({
        eventType: EventType.EVENT_TYPE_MARKER_RECORDED,
        markerRecordedEventAttributes: { markerName: 'core_local_activity', workflowTaskCompletedEventId: 7 as never },
      }),
    ).toEqual({ type: 'MarkerRecorded', markerName: 'core_local_activity', workflowTaskCompletedEventId: 7 });
  });

  test('meanCost averages every field', () => {
    const a = countHistoryCost([E('WorkflowExecutionStarted'), E('TimerStarted')]);
    const b = countHistoryCost([E('WorkflowExecutionStarted'), E('TimerStarted'), E('TimerStarted'), E('TimerStarted')]);
    const mean = meanCost([a, b]);
    expect(mean.actions.timers).toBe(2);
    expect(mean.actions.total).toBe(3);
    expect(mean.historyEvents).toBe(3);
  });
});

describe('the shape the engine-limit workflow copies', () => {
  test('activities before any message, inside an Update, and after; timers, signals, Updates, local activities', () => {
    const held: CostEvent[] = [
      E('WorkflowExecutionStarted'),
      E('MarkerRecorded', { markerName: 'core_local_activity', workflowTaskCompletedEventId: 4 }),
      E('ActivityTaskScheduled'), // recordBooking
      E('ActivityTaskScheduled'), // placeLines (hold)
      E('WorkflowExecutionSignaled'),
      E('WorkflowExecutionSignaled'),
      E('TimerStarted'),
      E('WorkflowExecutionUpdateAccepted'),
      E('ActivityTaskScheduled'), // transfer
      E('ActivityTaskScheduled'), // deposit confirmation
      E('WorkflowExecutionUpdateCompleted'),
      E('ActivityTaskScheduled'), // shipment 1
      E('ActivityTaskScheduled'), // provisioning
    ];
    expect(shapeOfHistory(held)).toEqual({
      localActivities: 1,
      startActivities: 2,
      updateActivities: 2,
      endActivities: 2,
      timers: 1,
      signals: 2,
      updates: 1,
    });
  });

  test('typicalShape rounds the mean of each field', () => {
    const s = { localActivities: 1, startActivities: 3, updateActivities: 0, endActivities: 4, timers: 0, signals: 2, updates: 0 };
    expect(typicalShape([s, { ...s, timers: 1 }, { ...s, timers: 1 }])).toEqual({ ...s, timers: 1 });
    expect(typicalShape([]).startActivities).toBe(0);
  });

  test('typicalShape keeps the total number of activities when the split varies between histories', () => {
    // 7 activities each, split 1+6 or 2+5: rounding each part would give 2 + 6 = 8.
    const a = { localActivities: 1, startActivities: 1, updateActivities: 0, endActivities: 6, timers: 0, signals: 2, updates: 0 };
    const b = { ...a, startActivities: 2, endActivities: 5 };
    const shape = typicalShape([a, b]);
    expect(shape.startActivities + shape.updateActivities + shape.endActivities).toBe(7);
  });
});

describe('spreads, slopes and tables', () => {
  test('spreadOf: first-to-last seconds and the most in one second', () => {
    const t0 = 1_700_000_000_000;
    const spread = spreadOf([t0 + 2500, t0, t0 + 100, t0 + 900, t0 + 1000, t0 + 4000]);
    expect(spread.count).toBe(6);
    expect(spread.spreadS).toBe(4);
    expect(spread.maxPerSecond).toBe(3); // 0, 100, 900 in the first second
    expect(spread.meanPerSecond).toBe(1.5);
    expect(spreadOf([]).count).toBe(0);
    expect(spreadOf([t0, t0]).maxPerSecond).toBe(2);
  });

  test('linearFit: exact line, noisy line, and too few distinct x', () => {
    expect(
      linearFit([
        [1, 3],
        [5, 11],
        [10, 21],
      ]),
    ).toEqual({ slope: 2, intercept: 1, r2: 1 });
    const noisy = linearFit([
      [1, 10],
      [2, 21],
      [3, 29],
      [4, 41],
    ]);
    expect(noisy.slope).toBeCloseTo(10.1, 5);
    expect(noisy.r2).toBeGreaterThan(0.98);
    expect(noisy.r2).toBeLessThan(1);
    expect(
      linearFit([
        [5, 1],
        [5, 2],
      ]).slope,
    ).toBeNaN();
  });

  test('formatTable pads columns and underlines the header; markdownTable writes a Markdown table', () => {
    expect(
      formatTable([
        ['a', 'bb'],
        ['ccc', 'd'],
      ]),
    ).toBe('a    bb\n---  --\nccc  d');
    expect(
      markdownTable([
        ['x', 'y'],
        ['1', '2'],
      ]),
    ).toBe('| x | y |\n|---|---|\n| 1 | 2 |');
  });
});

describe('the mix and sampling', () => {
  test('kindSequence keeps the proportions and interleaves the kinds', () => {
    const kinds = kindSequence(2000, DEFAULT_MIX);
    expect(countKinds(kinds)).toEqual({ direct: 800, held: 500, delegated: 300, classic: 400 });
    // Interleaved: every window of 20 has every kind.
    for (let i = 0; i + 20 <= kinds.length; i += 20) expect(new Set(kinds.slice(i, i + 20)).size).toBe(4);
  });

  test('a handful of orders still has every kind; a zero weight never appears', () => {
    expect(new Set(kindSequence(4, DEFAULT_MIX)).size).toBe(4);
    expect(new Set(kindSequence(8, DEFAULT_MIX)).size).toBe(4);
    expect(kindSequence(50, { direct: 1, held: 0, delegated: 0, classic: 1 })).not.toContain('held');
  });

  test('samplePerGroup takes up to n per group, spread over the list', () => {
    const items = Array.from({ length: 100 }, (_, i) => ({ i, g: i % 2 === 0 ? 'even' : 'odd' }));
    const sampled = samplePerGroup(items, (x) => x.g, 5);
    expect(sampled.get('even')!.map((x) => x.i)).toEqual([0, 20, 40, 60, 80]);
    expect(sampled.get('odd')).toHaveLength(5);
    expect(samplePerGroup(items.slice(0, 3), (x) => x.g, 5).get('even')).toHaveLength(2);
  });
});

describe('parked scale and mail helpers', () => {
  test('the reminder interval is a bit more than parking is expected to take, never below the minimum', () => {
    expect(chooseReminderInterval(1000, 10, 15_000)).toBe(130_000); // 100 s * 1.25 + 5 s
    expect(chooseReminderInterval(10, 10, 15_000)).toBe(15_000);
  });

  test('parseHeaders unfolds continuation lines and lower-cases names', () => {
    const raw =
      'X-Order-Id: abc\r\nX-Idempotency-Key: order-abc:transfer-reminder:1:\r\n orders@p.test\r\nSubject: Hi\r\n\r\nbody: not a header';
    expect(parseHeaders(raw)).toEqual({
      'x-order-id': 'abc',
      'x-idempotency-key': 'order-abc:transfer-reminder:1: orders@p.test',
      subject: 'Hi',
    });
  });
});
