/**
 * organism-m's graphs with its shipped PLT and CLT on the three case-study prompts: every target is the sum of
 * its token, feature, error and bias contributions; no decoder bias outweighs the MLP outputs it sits beside;
 * the strongest features are not ones that only cancel that bias; no two nodes share an id.
 */
import {
  type AttributionGraph,
  attribute,
  biasSiteCount,
  createGraphJson,
  type Dictionary,
  hookRunner,
  type Model,
  type Runtime,
  toCsr,
} from '@loupe/core';
import { nodeFiles, openModelAndDictionary } from '@loupe/core/node';
import { organismDictionaryCorpus } from '@loupe/organism';
import { shippedModelDir } from '@loupe/organism/node';
import { describe, expect, it } from 'vitest';
import { resolveDictionaryDir } from '../src/model-option.ts';

const PROMPTS = [
  '36+59=',
  'the capital of the region containing Dallas is',
  'which sport does Michael Batkin play?',
];

/** Σ row of the adjacency + Σ bias sites − the target's value, relative, for every feature and logit row. */
function worstRowResidual(g: AttributionGraph): number {
  const bias = g.bias as NonNullable<AttributionGraph['bias']>;
  const a = toCsr(g.adjacency);
  const nBias = biasSiteCount(g.model.nLayers, g.inputTokens.length);
  const nActive = g.activeFeatures.length / 3;
  const K = g.logitTargets.length;
  let worst = 0;
  for (let r = 0; r < nActive + K; r++) {
    const row = r < nActive ? r : a.n - K + (r - nActive);
    let total = 0;
    for (let i = a.rowPtr[row]; i < a.rowPtr[row + 1]; i++) total += a.values[i];
    for (let s = 0; s < nBias; s++) total += bias.rows[r * nBias + s];
    const v = bias.values[r];
    worst = Math.max(worst, Math.abs(total - v) / Math.max(1e-3, Math.abs(v)));
  }
  return worst;
}

const norm = (v: Float32Array) => Math.hypot(...v);

/** max over output layers of |cos(decoder row, that layer's b_dec)| for feature f of dictionary layer l. */
function biasCosine(dict: Dictionary, l: number, f: number): number {
  const w = dict.layers[l].wDec as NonNullable<Dictionary['layers'][number]['wDec']>;
  const d = dict.dModel;
  const nOut = w.shape.length === 3 ? w.shape[1] : 1;
  let worst = 0;
  for (let o = 0; o < nOut; o++) {
    const row = w.data.subarray((f * nOut + o) * d, (f * nOut + o + 1) * d);
    const b = dict.layers[l + o].bDec.data;
    let dot = 0;
    for (let j = 0; j < d; j++) dot += row[j] * b[j];
    const denom = norm(row) * norm(b);
    if (denom > 0) worst = Math.max(worst, Math.abs(dot / denom));
  }
  return worst;
}

/**
 * Median ‖MLP output‖ per layer at ordinary held-out positions: not padding or <bos>, and not a massive
 * activation (over ten times the layer's median, as organism-m's last MLP writes at `+` and newlines).
 */
async function ordinaryOutputMedians(model: Model, runtime: Runtime) {
  const dir = shippedModelDir('organism-m');
  const { nLayers: L, dModel: d } = model.config;
  const corpus = await organismDictionaryCorpus(dir, nodeFiles(), 1, 16, 64);
  const hooks = Array.from({ length: L }, (_, l) => `blocks.${l}.hook_mlp_out` as const);
  const run = await hookRunner(runtime, model, hooks);
  const exclude = new Set(corpus.exclude);
  const norms: number[][] = Array.from({ length: L }, () => []);
  let batches = 0;
  for await (const seqs of corpus.heldOut()) {
    const cache = await run(seqs);
    const T = seqs[0].length;
    seqs.forEach((s, b) => {
      for (let t = 0; t < T; t++) {
        if (exclude.has(s[t])) continue;
        hooks.forEach((h, l) => {
          const at = (b * T + t) * d;
          norms[l].push(norm((cache.get(h) as { data: Float32Array }).data.subarray(at, at + d)));
        });
      }
    });
    if (++batches === 4) break;
  }
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  return norms.map((xs) => {
    const all = median(xs);
    return median(xs.filter((x) => x <= 10 * all));
  });
}

describe.each(['plt', 'clt'])('organism-m with its shipped %s', (kind) => {
  it('targets are the sum of their contributions; b_dec is small and top features do not cancel it; ids are unique', async () => {
    const opened = await openModelAndDictionary(
      shippedModelDir('organism-m'),
      resolveDictionaryDir(`organism-m/${kind}`),
    );
    const { model, dictionary: dict, runtime } = opened;
    try {
      const medians = await ordinaryOutputMedians(model, runtime);
      dict.layers.forEach((layer, l) => {
        expect(norm(layer.bDec.data), `layer ${l}`).toBeLessThan(medians[l]);
      });
      for (const prompt of PROMPTS) {
        const g = await attribute(model, dict, { text: prompt });
        expect(worstRowResidual(g), prompt).toBeLessThan(1e-3);
        for (const idFormat of ['loupe', 'circuit-tracer'] as const) {
          const j = createGraphJson(g, { slug: 's', scan: kind, decodeToken: String, idFormat });
          const ids = [...j.nodes, ...(j.loupe?.bias?.nodes ?? [])].map((n) => n.node_id);
          expect(new Set(ids).size).toBe(ids.length);
        }
        // influence is the cumulative share in influence order: the smallest are the strongest nodes.
        const json = createGraphJson(g, { slug: 's', scan: kind, decodeToken: String });
        const top = json.nodes
          .filter((n) => n.feature_type.endsWith('transcoder'))
          .sort((a, b) => (a.influence ?? 1) - (b.influence ?? 1))
          .slice(0, 20);
        expect(top.length, prompt).toBe(20);
        for (const n of top) {
          const f = Number(n.node_id.split('_')[1]);
          expect(biasCosine(dict, Number(n.layer), f), `${prompt}: ${n.node_id}`).toBeLessThanOrEqual(0.8);
        }
      }
    } finally {
      await opened.close();
    }
  }, 600_000);
});
