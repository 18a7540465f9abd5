import type { FastifyInstance } from 'fastify';

/**
 * Every route the app registered, as "METHOD /path" (HEAD left out: Fastify answers it with the
 * GET route's handler). The authorization matrix test compares this list with its table, so a
 * route without a row, or a row without a route, fails it.
 */
const registered = new WeakMap<FastifyInstance, Set<string>>();

/** Call on the root instance before any route is added: child plugins inherit the hook. */
export function recordRoutes(app: FastifyInstance): void {
  const routes = new Set<string>();
  registered.set(app, routes);
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) if (method !== 'HEAD') routes.add(`${method} ${route.url}`);
  });
}

export function registeredRoutes(app: FastifyInstance): string[] {
  return [...(registered.get(app) ?? [])].sort();
}
