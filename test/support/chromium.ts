// Headless Debian chromium for browser tests, driven by playwright-core (no browser download: the system's
// /usr/bin/chromium, installed by .ci/run), and a recorder of what a page does wrong.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** The little of the DOM the tests' in-page functions touch (the project compiles without the DOM library). */
export interface PageElement {
  className: string;
  textContent: string | null;
  dataset: Record<string, string | undefined>;
}
export interface PageDocument {
  getElementById(id: string): PageElement | null;
}
/**
 * The page's globals as the tests' in-page functions see them: `(globalThis as unknown as PageGlobals).document`.
 * Such functions are sent to the page as source (not evaluated from strings, which the dashboard's CSP forbids).
 */
export interface PageGlobals {
  document: PageDocument & {
    querySelector(sel: string): { width: number; height: number; getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } } | null;
    dispatchEvent(e: unknown): boolean;
  };
  Event: new (type: string) => unknown;
}

/** Starts headless chromium; fails saying how to install it when it is missing. */
export async function launchChromium(): Promise<Browser> {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
}

/** Records what a page does wrong: console errors, uncaught exceptions, failed loads, requests to anywhere but `origin`. */
export function watchPage(page: Page, origin: string): { errors: string[]; outside: string[] } {
  const errors: string[] = [];
  const outside: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('request', (r) => {
    const url = r.url();
    if (!url.startsWith(`${origin}/`) && !url.startsWith('data:')) outside.push(url);
  });
  page.on('requestfailed', (r) => {
    // The event stream is closed on purpose when the tab is hidden and when the page goes away.
    if (!r.url().startsWith(`${origin}/dashboard/events`)) errors.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`);
  });
  return { errors, outside };
}
