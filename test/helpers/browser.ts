/**
 * Browser tests of the customer pages: Debian's Chromium driven by playwright-core (no browser
 * download), and a test stack whose email links point at the test API, so a test can open the
 * very link a contact receives.
 */
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { Config } from '../../src/config';
import { launchChromium } from '../../src/dev/chromium';
import { freePort } from '../../src/dev/free-port';
import { startTestApi, type TestApi } from './api';
import { useTestStack, type TestStack } from './stack';

/** Launches Chromium, or fails (never skips): a missing browser is never mistaken for a pass. */
export function launchBrowserForTests(): Promise<Browser> {
  return launchChromium('the customer-page browser tests (they fail rather than skip)');
}

export interface BrowserSession {
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /** Console messages that report a Content-Security-Policy violation (the pages must cause none). */
  cspViolations: string[];
}

/**
 * Runs `work` in a fresh Chromium with JavaScript disabled (the pages must work without it) and
 * closes the browser afterwards, whatever happens, so every test has a browser of its own.
 */
export async function withBrowser<T>(work: (session: BrowserSession) => Promise<T>): Promise<T> {
  const browser = await launchBrowserForTests();
  try {
    const context = await browser.newContext({ javaScriptEnabled: false });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    const cspViolations: string[] = [];
    page.on('console', (message) => {
      if (/Content.Security.Policy/i.test(message.text())) cspViolations.push(message.text());
    });
    return await work({ browser, context, page, cspViolations });
  } finally {
    await browser.close();
  }
}

/**
 * A test file's stack and API where the links in the emails lead to that API: a free port is
 * picked first, the stack (and so its worker, which writes the links) gets
 * PUBLIC_BASE_URL=http://127.0.0.1:<port>, and the API then listens on that port.
 */
export function useLinkedStackAndApi(testFile: string, overrides: Partial<Config> = {}): { stack: TestStack; api: TestApi } {
  // Filled in by the first hook, read by useTestStack's own beforeAll that runs right after it.
  const stackOverrides: Partial<Config> = { ...overrides };
  let port = 0;
  beforeAll(async () => {
    port = await freePort();
    stackOverrides.publicBaseUrl = `http://127.0.0.1:${port}`;
  });
  const stack = useTestStack(testFile, stackOverrides);
  const api = {} as TestApi;
  beforeAll(async () => {
    Object.assign(api, await startTestApi(stack, { port }));
  });
  afterAll(async () => {
    await api.close?.();
  });
  return { stack, api };
}
