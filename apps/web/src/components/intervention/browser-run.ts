/**
 * Interventions on a shipped organism inside the page: the checkpoint and dictionary are read from
 * `/organisms/<key>/…` with Range requests and run by onnxruntime-web, with no job and no server computation.
 */
import {
  type InterventionRequest,
  type InterventionRunReport,
  Intervener,
  loadCheckpoint,
  loadDictionary,
  Model,
  prepareTokens,
  runInterventionRequest,
  validateAgainstModel,
} from '@loupe/core';
import { z } from 'zod';

const sizes = z.record(z.string(), z.number().int().min(0));
const manifestSchema = z.object({
  models: z.array(
    z.object({
      key: z.string(),
      files: sizes,
      dictionaries: z.array(z.object({ key: z.string(), files: sizes })),
    }),
  ),
});
type Manifest = z.infer<typeof manifestSchema>;

let manifest: Promise<Manifest> | null = null;

/** The shipped models and dictionaries the page can load (fetched once). */
export function organismManifest(): Promise<Manifest> {
  manifest ??= fetch('/organisms')
    .then((r) => {
      if (!r.ok) throw new Error(`the organism list did not load (HTTP ${r.status})`);
      return r.json();
    })
    .then((json) => manifestSchema.parse(json))
    .catch((e) => {
      manifest = null;
      throw e;
    });
  return manifest;
}

/** True when both catalogue keys name shipped files the page can fetch. */
export function runsInBrowser(m: Manifest, modelKey: string | null, dictionaryKey: string | null): boolean {
  const model = m.models.find((x) => x.key === modelKey);
  return Boolean(model?.dictionaries.some((d) => d.key === dictionaryKey));
}

type Loaded = { iv: Intervener; model: Model };
const loaded = new Map<string, Promise<Loaded>>();
let runtime: Promise<import('@loupe/core').Runtime> | null = null;

/** onnxruntime-web reads its settings once, at its first session: one runtime per page. */
function pageRuntime() {
  runtime ??= Promise.all([import('onnxruntime-web/wasm'), import('@loupe/core/browser')]).then(
    ([ort, core]) => core.browserRuntime(ort, { wasmPaths: '/ort/' }),
  );
  return runtime;
}

async function files(key: string, listed: Record<string, number>) {
  const { fetchFiles } = await import('@loupe/core/browser');
  return fetchFiles(`/organisms/${key}`, fetch, new Map(Object.entries(listed)));
}

async function load(modelKey: string, dictionaryKey: string): Promise<Loaded> {
  const m = await organismManifest();
  const entry = m.models.find((x) => x.key === modelKey);
  const dict = entry?.dictionaries.find((d) => d.key === dictionaryKey);
  if (!entry || !dict) throw new Error(`${modelKey} with ${dictionaryKey} is not a shipped organism`);
  const ckpt = await loadCheckpoint('', await files(entry.key, entry.files));
  const dictionary = await loadDictionary('', await files(dict.key, dict.files));
  validateAgainstModel(dictionary, ckpt.config);
  const model = await Model.create(ckpt.config, ckpt.weights, ckpt.tokenizer, await pageRuntime());
  return { iv: Intervener.create(model, dictionary), model };
}

/** Runs `req` on `prompt` in this page; the model and dictionary stay loaded for the next run. */
export async function interveneInBrowser(
  modelKey: string,
  dictionaryKey: string,
  prompt: string,
  req: InterventionRequest,
  onProgress: (message: string) => void,
): Promise<InterventionRunReport> {
  const key = `${modelKey} ${dictionaryKey}`;
  if (!loaded.has(key)) {
    onProgress('Loading the model and dictionary in this browser');
    const p = load(modelKey, dictionaryKey);
    loaded.set(key, p);
    p.catch(() => loaded.delete(key));
  }
  const { iv, model } = await (loaded.get(key) as Promise<Loaded>);
  onProgress('Running the intervention in this browser');
  const tokens = prepareTokens({ text: prompt }, model.config.dVocab, model.tokenizer);
  return runInterventionRequest(iv, tokens, req);
}
