import { NextRequest } from 'next/server';
import { describe, expect, it } from 'vitest';
import { proxy } from '../src/proxy.ts';
import { contentSecurityPolicy } from '../src/server/security-headers.ts';

describe('security headers (proxy)', () => {
  it('sets CSP, nosniff, referrer policy and framing refusal on every response', () => {
    for (const path of [
      '/',
      '/api/trpc/system.health',
      '/ort/ort-wasm-simd-threaded.wasm',
      '/_next/static/x.js',
    ]) {
      const res = proxy(new NextRequest(`http://127.0.0.1:3000${path}`));
      expect(res.headers.get('content-security-policy')).toBe(contentSecurityPolicy(false));
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('referrer-policy')).toBe('strict-origin-when-cross-origin');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('strict-transport-security')).toBeNull();
    }
  });

  it('adds HSTS only when the request came over https', () => {
    const direct = proxy(new NextRequest('https://loupe.example/'));
    expect(direct.headers.get('strict-transport-security')).toMatch(/^max-age=31536000/);
    const proxied = proxy(
      new NextRequest('http://10.0.0.5:3000/', { headers: { 'x-forwarded-proto': 'https' } }),
    );
    expect(proxied.headers.get('strict-transport-security')).toMatch(/^max-age=31536000/);
  });

  it('lets onnxruntime-web compile wasm and start workers, and allows no eval in production', () => {
    const csp = Object.fromEntries(
      contentSecurityPolicy(false)
        .split('; ')
        .map((d) => [d.split(' ')[0], d.split(' ').slice(1)]),
    );
    expect(csp['script-src']).toContain("'wasm-unsafe-eval'");
    expect(csp['script-src']).not.toContain("'unsafe-eval'");
    expect(csp['worker-src']).toEqual(["'self'", 'blob:']);
    expect(csp['frame-ancestors']).toEqual(["'none'"]);
    expect(csp['object-src']).toEqual(["'none'"]);
    expect(csp['connect-src']).toEqual(["'self'"]);
    expect(contentSecurityPolicy(true)).toMatch(/script-src [^;]*'unsafe-eval'/);
  });
});
