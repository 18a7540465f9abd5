import helmet from '@fastify/helmet';
import type { FastifyInstance } from 'fastify';

/**
 * The security headers every server-rendered page answers with: a CSP that allows the page's one
 * hashed stylesheet and nothing else (no script at all), no Referer (tokens can be in paths), no
 * framing, and HSTS when served over https. One place, for the customer link pages and the
 * signed-in pages alike.
 */
export async function registerPageHeaders(pages: FastifyInstance, options: { styleSource: string; https: boolean }): Promise<void> {
  await pages.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'none'"],
        styleSrc: [options.styleSource],
        formAction: ["'self'"],
        baseUri: ["'none'"],
        frameAncestors: ["'none'"],
      },
    },
    referrerPolicy: { policy: 'no-referrer' },
    xFrameOptions: { action: 'deny' },
    strictTransportSecurity: options.https ? { maxAge: 31_536_000, includeSubDomains: true } : false,
  });
}
