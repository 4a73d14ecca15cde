import path from 'node:path';
import type { NextConfig } from 'next';

const root = path.join(import.meta.dirname, '../..');

// onnxruntime-web runs its wasm threads in a module worker: the page and the worker script both need
// cross-origin isolation, or InferenceSession.create hangs instead of failing (STACK.md P20).
const isolationHeaders = [
  { key: 'Cross-Origin-Opener-Policy', value: 'same-origin' },
  { key: 'Cross-Origin-Embedder-Policy', value: 'require-corp' },
];

const config: NextConfig = {
  transpilePackages: ['@loupe/api', '@loupe/core', '@loupe/db'],
  serverExternalPackages: ['onnxruntime-node', '@electric-sql/pglite', 'pg', '@node-rs/argon2'],
  outputFileTracingRoot: root,
  turbopack: { root },
  // Says nothing about the server to those probing it.
  poweredByHeader: false,
  async headers() {
    return [
      { source: '/ort', headers: isolationHeaders },
      { source: '/ort/:path*', headers: isolationHeaders },
      { source: '/microscope/:path*', headers: isolationHeaders },
    ];
  },
};

export default config;
