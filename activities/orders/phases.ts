/**
 * One activity per phase: a change of the order's place or state together with the email that
 * announces it. Each pair used to be two activities (two schedules, two results, two workflow
 * tasks); together they are one, which is what Temporal bills and what the worker waits on
 * (docs/BENCHMARKS.md, "cost per order").
 *
 * Safe to retry as a whole: the write is idempotent (placeLines and provisionLines find their
 * work done and change nothing) and the email goes through the outbox under its idempotency key,
 * so a retry after the write, or after the email, repeats neither. A refusal of the write throws
 * before any email is queued.
 */
import type { OrderEmailRequest } from '../shared/email';
import type { ProvisioningRequest, ProvisioningResult } from './fulfillment';
import type { PlacementRequest, PlacementResult } from './placement';

interface PhaseParts {
  placeLines(request: PlacementRequest): Promise<PlacementResult>;
  provisionLines(request: ProvisioningRequest): Promise<ProvisioningResult>;
  sendOrderEmail(request: OrderEmailRequest): Promise<{ recipients: number }>;
}

/** The email that announces the phase: sent after the write has committed. */
export interface Announced {
  email: OrderEmailRequest;
}

export function createPhaseActivities(parts: PhaseParts) {
  return {
    /** Deposit, hold or transfer the lines, then send the email that says so. */
    async placeLinesAndAnnounce({ email, ...placement }: PlacementRequest & Announced): Promise<PlacementResult> {
      const placed = await parts.placeLines(placement);
      await parts.sendOrderEmail(email);
      return placed;
    },

    /** Provision the lines, then send the email that says the order is fulfilled. */
    async provisionLinesAndAnnounce({ email, ...provisioning }: ProvisioningRequest & Announced): Promise<ProvisioningResult> {
      const provisioned = await parts.provisionLines(provisioning);
      await parts.sendOrderEmail(email);
      return provisioned;
    },
  };
}
