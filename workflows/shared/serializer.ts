/**
 * Runs async steps one at a time, in call order. Update handlers and the main loop both change
 * the order's state with an activity in between; without this, an assignment could interleave
 * with a provisioning step. Deterministic: plain promise chaining, no timers.
 */
export class Serializer {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(step: () => Promise<T>): Promise<T> {
    const result = this.tail.then(step);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
