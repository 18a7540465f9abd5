/**
 * Part 3: the cost of an order, read from the real histories on the server after the run: every
 * run of the workflow (following continue-as-new back to the first run), reduced to the events
 * the counting rule in bench/report.ts reads.
 */
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { payloadsOf } from '../test/helpers/payloads';
import {
  countHistoryCost,
  meanCost,
  shapeOfHistory,
  toCostEvent,
  typicalShape,
  type CostEvent,
  type HistoryCost,
  type WorkflowShape,
} from './report';
import { eventTypeName } from './history-cost';

/**
 * Payload bytes of a history as the server stores them (each payload serialised: metadata and
 * data, sealed or not), by event type; search attributes are left out. What the Temporal server
 * writes, reads and ships per order beyond the events themselves.
 */
export interface PayloadBytes {
  total: number;
  byType: Record<string, number>;
}

function payloadBytesOf(events: readonly temporal.api.history.v1.IHistoryEvent[]): PayloadBytes {
  const bytes: PayloadBytes = { total: 0, byType: {} };
  for (const event of events) {
    const size = payloadsOf(event).reduce((sum, p) => sum + temporal.api.common.v1.Payload.encode(p).finish().length, 0);
    if (size === 0) continue;
    const type = eventTypeName(event.eventType);
    bytes.byType[type] = (bytes.byType[type] ?? 0) + size;
    bytes.total += size;
  }
  return bytes;
}

function meanPayloadBytes(all: readonly PayloadBytes[]): PayloadBytes {
  const n = all.length || 1;
  const byType: Record<string, number> = {};
  for (const b of all) for (const [type, size] of Object.entries(b.byType)) byType[type] = (byType[type] ?? 0) + size / n;
  return { total: all.reduce((sum, b) => sum + b.total, 0) / n, byType };
}

/** One line: `total B (Type b, Type b, ...)`, the largest types first. */
export function describePayloadBytes(bytes: PayloadBytes): string {
  const types = Object.entries(bytes.byType)
    .sort((a, b) => b[1] - a[1])
    .map(([type, size]) => `${type} ${Math.round(size)}`);
  return `${Math.round(bytes.total)} B (${types.join(', ')})`;
}

/** The events of every run of a workflow, oldest run first. */
export async function fetchAllRunsEvents(client: Client, workflowId: string, payloads?: PayloadBytes[]): Promise<CostEvent[]> {
  const runs: CostEvent[][] = [];
  const raw: temporal.api.history.v1.IHistoryEvent[] = [];
  let runId: string | undefined;
  for (let guard = 0; guard < 100; guard++) {
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    const events = history.events ?? [];
    runs.unshift(events.map(toCostEvent));
    raw.push(...events);
    const previous = events[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId;
    if (!previous) break;
    runId = previous;
  }
  payloads?.push(payloadBytesOf(raw));
  return runs.flat();
}

/** Mean cost and typical shape of a sample of workflows, a few fetched at a time. */
export async function costOf(
  client: Client,
  workflowIds: readonly string[],
): Promise<{ cost: HistoryCost; shape: WorkflowShape; samples: number; payloadBytes: PayloadBytes }> {
  const costs: HistoryCost[] = [];
  const shapes: WorkflowShape[] = [];
  const payloads: PayloadBytes[] = [];
  const queue = [...workflowIds];
  await Promise.all(
    Array.from({ length: Math.min(8, queue.length) }, async () => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
        const events = await fetchAllRunsEvents(client, id, payloads);
        costs.push(countHistoryCost(events));
        shapes.push(shapeOfHistory(events));
      }
    }),
  );
  return { cost: meanCost(costs), shape: typicalShape(shapes), samples: costs.length, payloadBytes: meanPayloadBytes(payloads) };
}

/** Up to `perGroup` items of each group, spread over the run (not only its first orders). */
export function samplePerGroup<T>(items: readonly T[], groupOf: (item: T) => string, perGroup: number): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) groups.set(groupOf(item), [...(groups.get(groupOf(item)) ?? []), item]);
  const out = new Map<string, T[]>();
  for (const [group, list] of groups) {
    if (list.length <= perGroup) {
      out.set(group, list);
      continue;
    }
    const step = list.length / perGroup;
    out.set(
      group,
      Array.from({ length: perGroup }, (_, i) => list[Math.floor(i * step)]),
    );
  }
  return out;
}
