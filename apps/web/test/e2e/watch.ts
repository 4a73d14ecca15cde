import type { Page } from 'playwright-core';

/** Collects every console error, uncaught exception, failed request and HTTP error a page produces. */
export function watchPage(page: Page, problems: string[]): void {
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`exception: ${e.message}`));
  page.on('requestfailed', (r) => {
    // Live-update streams, presence heartbeats, route prefetches and reads in flight are cancelled by the page
    // itself when it navigates, reloads or closes (or when React Query drops a query nobody watches): that abort
    // is the browser's, not a failure. An aborted write still counts.
    const cancelled =
      r.resourceType() === 'eventsource' ||
      r.method() === 'GET' ||
      new URL(r.url()).searchParams.has('_rsc') ||
      r.url().includes('/api/trpc/presence.');
    if (cancelled && r.failure()?.errorText === 'net::ERR_ABORTED') return;
    problems.push(`request failed: ${r.method()} ${r.url()} ${r.failure()?.errorText ?? ''}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`);
  });
}
