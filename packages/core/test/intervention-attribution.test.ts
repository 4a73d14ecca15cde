/**
 * circuit-tracer's oracle (its verify_feature_edges): doubling a feature in constrained mode changes
 * every target — feature pre-activations and demeaned logits — by exactly that feature's adjacency column.
 */
import { describe, expect, it } from 'vitest';
import { graphLayout, logitNodeIndex } from '../src/attribution/graph.ts';
import { attribute } from '../src/attribution/trace-attribute.ts';
import { referenceEncode } from '../src/dictionary/reference.ts';
import type { Architecture } from '../src/model/config.ts';
import { blockHook, type HookName } from '../src/model/hooks.ts';
import type { F32 } from '../src/tensor/host.ts';
import { ARCHS, type DictOptions, setup, TOKENS } from './intervention-fixtures.ts';

const CASES: [Architecture, DictOptions][] = [
  ...ARCHS.map((a): [Architecture, DictOptions] => [a, { skip: a === 'llama' || a === 'qwen3' }]),
  ['gemma2', { kind: 'clt', skip: true, hooks: { input: 'mlp.hook_in', output: 'mlp.hook_out' } }],
  ['qwen2', { kind: 'clt', act: { kind: 'topk', k: 5, rectify: false } }],
];

describe('constrained interventions reproduce attribution-graph columns', () => {
  for (const [arch, o] of CASES) {
    it(`${arch} ${o.kind ?? 'plt'}${o.skip ? ' + skip' : ''} (${o.hooks?.output ?? 'hook_mlp_out'})`, async () => {
      const { model, dict, iv } = await setup(arch, o);
      const graph = await attribute(model, dict, { tokens: TOKENS }, { storage: 'dense' });
      expect(Array.from(graph.inputTokens)).toEqual(Array.from(TOKENS));
      if (graph.adjacency.kind !== 'dense') throw new Error('expected a dense adjacency');
      const A = graph.adjacency.data;
      const n = graph.adjacency.n;
      const layout = graphLayout(graph);
      const { nLayers, dModel: d, dVocab } = model.config;
      const hooks: HookName[] = [
        ...Array.from({ length: nLayers }, (_, l) => blockHook(l, dict.hooks.input)),
        'ln_final.hook_normalized',
      ];
      const base = await iv.intervene(TOKENS, {}, { mode: 'constrained', hooks });
      const feat = (i: number) => graph.activeFeatures.subarray(3 * i, 3 * i + 3);
      const preOf = (r: typeof base, i: number) => {
        const [l, p, f] = feat(i);
        return referenceEncode(dict, l, r.hooks[hooks[l]]).pre.data[p * dict.dTc + f];
      };
      const T = TOKENS.length;
      const lnW = model.weights.lnFinal.w.data;
      const lnB = model.weights.lnFinal.b?.data;
      const u = model.weights.unembed as F32; // [d, V]
      const logitTarget = (r: typeof base, vocab: number) => {
        const x = r.hooks['ln_final.hook_normalized'].data.subarray((T - 1) * d, T * d);
        let s = 0;
        for (let j = 0; j < d; j++) {
          let mean = 0;
          for (let v = 0; v < dVocab; v++) mean += u.data[j * dVocab + v];
          s += (x[j] * lnW[j] + (lnB ? lnB[j] : 0)) * (u.data[j * dVocab + vocab] - mean / dVocab);
        }
        return s;
      };
      // Sources: layer-0 features (they reach every later target) and one at the last position if any;
      // a last-layer feature elsewhere has an all-zero column (no attention follows its MLP).
      const F = graph.selectedFeatures.length;
      const cols = [...Array(F).keys()];
      const early = cols.filter((c) => feat(graph.selectedFeatures[c])[0] === 0);
      const last = cols.filter(
        (c) => feat(graph.selectedFeatures[c])[0] > 0 && feat(graph.selectedFeatures[c])[1] === T - 1,
      );
      expect(early.length).toBeGreaterThan(2);
      for (const col of [
        early[0],
        early[Math.floor(early.length / 2)],
        early[early.length - 1],
        ...last.slice(0, 1),
      ]) {
        const src = graph.selectedFeatures[col];
        const [l, p, f] = feat(src);
        const a = graph.activationValues[src];
        const r = await iv.intervene(
          TOKENS,
          { features: [{ layer: l, pos: p, feature: f, value: 2 * a }] },
          {
            mode: 'constrained',
            hooks,
          },
        );
        let scale = 0;
        for (let row = 0; row < n; row++) scale = Math.max(scale, Math.abs(A[row * n + col]));
        expect(scale).toBeGreaterThan(1e-3);
        const tol = 1e-3 * Math.max(1, scale);
        for (let t = 0; t < F; t++) {
          const i = graph.selectedFeatures[t];
          expect(Math.abs(preOf(r, i) - preOf(base, i) - A[t * n + col])).toBeLessThan(tol);
        }
        graph.logitTargets.forEach((target, k) => {
          const row = logitNodeIndex(layout, k);
          const change = logitTarget(r, target.vocabIdx) - logitTarget(base, target.vocabIdx);
          expect(Math.abs(change - A[row * n + col])).toBeLessThan(tol);
        });
      }
    });
  }
});
