/**
 * The Content-Security-Policy of every response.
 *
 * Scripts and styles allow 'unsafe-inline' rather than a per-request nonce: Next.js can stamp a nonce only on
 * pages rendered per request, which would turn every static page dynamic, and React's style attributes (the graph
 * panels set positions and colours inline) are not covered by nonces at all. What an injected script could reach
 * is limited instead: no eval outside development, connections to this origin only, no plugins, no <base>
 * rewriting, no framing, forms posting here only.
 *
 * onnxruntime-web compiles its wasm ('wasm-unsafe-eval', never 'unsafe-eval') fetched from /ort/, and runs its
 * threads in module workers started from this origin or from blob: URLs.
 */
export function contentSecurityPolicy(dev: boolean): string {
  const directives = [
    "default-src 'self'",
    `script-src 'self' 'unsafe-inline' 'wasm-unsafe-eval'${dev ? " 'unsafe-eval'" : ''}`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    // Development's hot reload talks over a websocket to this server.
    `connect-src 'self'${dev ? ' ws: wss:' : ''}`,
    "worker-src 'self' blob:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ];
  return directives.join('; ');
}

/** Headers every response carries; HSTS only when the request came over https (a browser ignores it otherwise). */
export function securityHeaders(opts: { https: boolean; dev: boolean }): [string, string][] {
  const headers: [string, string][] = [
    ['Content-Security-Policy', contentSecurityPolicy(opts.dev)],
    ['X-Content-Type-Options', 'nosniff'],
    ['Referrer-Policy', 'strict-origin-when-cross-origin'],
    ['X-Frame-Options', 'DENY'],
    ['Permissions-Policy', 'camera=(), microphone=(), geolocation=()'],
  ];
  if (opts.https) headers.push(['Strict-Transport-Security', 'max-age=31536000; includeSubDomains']);
  return headers;
}

/** Whether the request reached the app over https, directly or through a proxy that says so. */
export function viaHttps(url: string, headers: Headers): boolean {
  return new URL(url).protocol === 'https:' || headers.get('x-forwarded-proto') === 'https';
}
