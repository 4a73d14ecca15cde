import { type NextRequest, NextResponse } from 'next/server';
import { securityHeaders, viaHttps } from './server/security-headers';

/** Security headers on every response: pages, API, static files and the onnxruntime assets alike. */
export function proxy(request: NextRequest): NextResponse {
  const response = NextResponse.next();
  const https = viaHttps(request.url, request.headers);
  for (const [name, value] of securityHeaders({ https, dev: process.env.NODE_ENV === 'development' })) {
    response.headers.set(name, value);
  }
  return response;
}
