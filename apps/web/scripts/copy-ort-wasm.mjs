// Serve onnxruntime-web's wasm from our own origin: there is no CDN on an offline machine.
import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';

const dist = path.join(import.meta.dirname, '..', 'node_modules', 'onnxruntime-web');
const out = path.join(import.meta.dirname, '..', 'public', 'ort');
mkdirSync(out, { recursive: true });
for (const f of ['ort-wasm-simd-threaded.wasm', 'ort-wasm-simd-threaded.mjs']) {
  copyFileSync(path.join(dist, 'dist', f), path.join(out, f));
}
