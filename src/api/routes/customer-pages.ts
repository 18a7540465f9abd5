import type { FastifyInstance } from 'fastify';
import type { ApiDependencies } from '../server';

/** The customer pages behind the delegation and activation links in the emails. */
export async function registerCustomerPages(app: FastifyInstance, deps: ApiDependencies): Promise<void> {
  void app;
  void deps;
}
