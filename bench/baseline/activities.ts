/** The engine-limit workflow's activities: they do nothing, so what remains is the engine's own cost. */
export async function nothing(): Promise<void> {
  // Intentionally empty.
}

export async function nothingLocal(): Promise<void> {
  // Intentionally empty.
}
