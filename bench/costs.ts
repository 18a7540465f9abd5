/**
 * Part 3: the cost of an order, read from the real histories on the server after the run: every
 * run of the workflow (following continue-as-new back to the first run), reduced to the events
 * the counting rule in bench/report.ts reads.
 */
import type { Client } from '@temporalio/client';
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

/** The events of every run of a workflow, oldest run first. */
export async function fetchAllRunsEvents(client: Client, workflowId: string): Promise<CostEvent[]> {
  const runs: CostEvent[][] = [];
  let runId: string | undefined;
  for (let guard = 0; guard < 100; guard++) {
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    const events = history.events ?? [];
    runs.unshift(events.map(toCostEvent));
    const previous = events[0]?.workflowExecutionStartedEventAttributes?.continuedExecutionRunId;
    if (!previous) break;
    runId = previous;
  }
  return runs.flat();
}

/** Mean cost and typical shape of a sample of workflows, a few fetched at a time. */
export async function costOf(
  client: Client,
  workflowIds: readonly string[],
): Promise<{ cost: HistoryCost; shape: WorkflowShape; samples: number }> {
  const costs: HistoryCost[] = [];
  const shapes: WorkflowShape[] = [];
  const queue = [...workflowIds];
  await Promise.all(
    Array.from({ length: Math.min(8, queue.length) }, async () => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
        const events = await fetchAllRunsEvents(client, id);
        costs.push(countHistoryCost(events));
        shapes.push(shapeOfHistory(events));
      }
    }),
  );
  return { cost: meanCost(costs), shape: typicalShape(shapes), samples: costs.length };
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
