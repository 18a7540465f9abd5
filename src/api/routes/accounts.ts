import type { FastifyInstance } from 'fastify';
import type { ApiDependencies } from '../server';

/** Accounts: Smart Account search and requests, virtual accounts, holding-account members, role grants. */
export function registerAccountRoutes(app: FastifyInstance, deps: ApiDependencies): void {
  void app;
  void deps;
}
