import type { temporal } from '@temporalio/proto';

type History = temporal.api.history.v1.IHistory;

/**
 * The patch IDs a run recorded, in history order: patched() writes a `core_patch` marker whose
 * details hold the ID (docs/EVOLVING-WORKFLOWS.md). A run that took no patched path has none.
 */
export function patchIdsOf(history: History): string[] {
  return (history.events ?? []).flatMap((event) => {
    const marker = event.markerRecordedEventAttributes;
    if (marker?.markerName !== 'core_patch') return [];
    const details = (marker.details ?? {}) as Record<string, { payloads?: Array<{ data?: Uint8Array | null }> | null }>;
    // Each detail is a JSON payload naming the patch (and whether it is deprecated): its string values.
    return Object.values(details)
      .flatMap((d) => d.payloads ?? [])
      .flatMap((p) => stringsIn(parsed(Buffer.from(p.data ?? []).toString('utf8'))));
  });
}

function stringsIn(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(stringsIn);
  if (value && typeof value === 'object') return Object.values(value).flatMap(stringsIn);
  return [];
}

function parsed(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
