/**
 * The page's script: reads organism-s and its per-layer transcoders from the server with Range requests,
 * runs the same intervention as node/intervene.ts on onnxruntime-web (wasm), and prints the same lines.
 */
import {
  Intervener,
  loadCheckpoint,
  loadDictionary,
  Model,
  prepareTokens,
  validateAgainstModel,
} from '@loupe/core';
import { browserRuntime, fetchFiles } from '@loupe/core/browser';
import * as ort from 'onnxruntime-web/wasm';
import { PROMPT, resultLines, ZERO_FEATURE } from '../intervention.ts';
import type { Listing } from './serve.ts';

const out = document.getElementById('out') as HTMLPreElement;

async function run(): Promise<string[]> {
  // HTTP cannot list a folder, and the dictionary loader lists its own: the server publishes both listings.
  const listing = (await (await fetch('/listing.json')).json()) as Listing;
  const files = (base: keyof Listing) =>
    fetchFiles(`/${base}`, fetch, new Map(Object.entries(listing[base])));
  const runtime = browserRuntime(ort, { wasmPaths: '/ort/' });
  const ckpt = await loadCheckpoint('', files('model'));
  const dict = await loadDictionary('', files('dictionary'));
  validateAgainstModel(dict, ckpt.config);
  const model = await Model.create(ckpt.config, ckpt.weights, ckpt.tokenizer, runtime);
  const tokens = prepareTokens({ text: PROMPT }, ckpt.config.dVocab, ckpt.tokenizer);
  const r = await Intervener.create(model, dict).intervene(
    tokens,
    { features: [ZERO_FEATURE] },
    { mode: 'constrained', topK: 3 },
  );
  await dict.close();
  await runtime.release();
  return resultLines(r);
}

run().then(
  (lines) => {
    out.textContent = lines.join('\n');
    out.dataset.state = 'done';
  },
  (e: unknown) => {
    out.textContent = `error: ${e instanceof Error ? e.message : String(e)}`;
    out.dataset.state = 'error';
  },
);
