/**
 * Switch off one transcoder feature of organism-s on a prompt and compare the next-token distribution before
 * and after, in one intervention mode (constrained, frozen-attention or free).
 *
 *   pnpm --filter @loupe/examples intervene [constrained|frozen-attention|free]
 */
import {
  INTERVENTION_MODES,
  Intervener,
  type InterventionMode,
  loadCheckpoint,
  loadDictionary,
  Model,
  prepareTokens,
  validateAgainstModel,
} from '@loupe/core';
import { nodeFiles, nodeRuntime } from '@loupe/core/node';
import { PROMPT, resultLines, ZERO_FEATURE } from '../intervention.ts';
import { ORGANISM_S, ORGANISM_S_PLT } from './organism.ts';

const mode = (process.argv[2] ?? 'constrained') as InterventionMode;
if (!INTERVENTION_MODES.includes(mode)) {
  throw new Error(`mode '${mode}': expected one of ${INTERVENTION_MODES.join(', ')}`);
}

const files = nodeFiles();
const ckpt = await loadCheckpoint(ORGANISM_S, files);
const dict = await loadDictionary(ORGANISM_S_PLT, files);
const runtime = nodeRuntime();
try {
  validateAgainstModel(dict, ckpt.config);
  const model = await Model.create(ckpt.config, ckpt.weights, ckpt.tokenizer, runtime);
  const iv = Intervener.create(model, dict);
  const tokens = prepareTokens({ text: PROMPT }, ckpt.config.dVocab, ckpt.tokenizer);
  const r = await iv.intervene(tokens, { features: [ZERO_FEATURE] }, { mode, topK: 3 });
  const { layer, pos, feature } = ZERO_FEATURE;
  const applied = r.report.applied[0];
  console.log(`${PROMPT} with L${layer} feature ${feature} at position ${pos} set to 0 (${mode}):`);
  console.log(`activation ${applied.current.toFixed(3)} → ${applied.value}`);
  for (const line of resultLines(r)) console.log(line);
} finally {
  await dict.close();
  await runtime.release();
}
