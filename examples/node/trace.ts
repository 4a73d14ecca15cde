/**
 * Trace an attribution graph for a prompt on organism-s through its per-layer transcoders, print the
 * predicted tokens and the features with the most influence on them, and write the pruned graph as
 * circuit-tracer / Neuronpedia graph JSON. A third argument names another dictionary directory (circuit-tracer,
 * SAELens or GemmaScope layout), e.g. the one train-dictionary.ts writes.
 *
 *   pnpm --filter @loupe/examples trace "36+59=" graph.json [DICTIONARY_DIR]
 */
import { writeFile } from 'node:fs/promises';
import {
  attribute,
  createGraphJson,
  graphLayout,
  loadCheckpoint,
  loadDictionary,
  logitWeights,
  Model,
  nodeInfluence,
  validateAgainstModel,
} from '@loupe/core';
import { nodeFiles, nodeRuntime } from '@loupe/core/node';
import { ORGANISM_S, ORGANISM_S_PLT } from './organism.ts';

const [prompt = '36+59=', out = 'graph.json', dictDir = ORGANISM_S_PLT] = process.argv.slice(2);

const files = nodeFiles();
const ckpt = await loadCheckpoint(ORGANISM_S, files);
const dict = await loadDictionary(dictDir, files);
const runtime = nodeRuntime();
try {
  validateAgainstModel(dict, ckpt.config);
  const model = await Model.create(ckpt.config, ckpt.weights, ckpt.tokenizer, runtime);
  const graph = await attribute(model, dict, { text: prompt }, { modelName: 'organism-s' });

  const predictions = graph.logitTargets.map(
    (t, i) => `${JSON.stringify(t.tokenStr)} ${(100 * graph.logitProbabilities[i]).toFixed(1)}%`,
  );
  console.log(`next token: ${predictions.join(', ')}`);

  // A feature's influence: its share of all paths into the logits, each logit weighted by its probability.
  const layout = graphLayout(graph);
  const influence = nodeInfluence(graph.adjacency, logitWeights(graph.adjacency.n, graph.logitProbabilities));
  const ranked = [...graph.selectedFeatures.keys()].sort((a, b) => influence[b] - influence[a]).slice(0, 5);
  console.log('top features (LAYER:POS:FEATURE):');
  for (const i of ranked) {
    const a = graph.selectedFeatures[i];
    const [layer, pos, feature] = graph.activeFeatures.subarray(3 * a, 3 * a + 3);
    const token = ckpt.tokenizer?.decode([graph.inputTokens[pos]]) ?? String(graph.inputTokens[pos]);
    console.log(
      `  ${layer}:${pos}:${feature} at ${JSON.stringify(token)}, influence ${influence[i].toFixed(3)}`,
    );
  }

  const json = createGraphJson(graph, {
    slug: 'example',
    scan: dictDir,
    decodeToken: (id) => ckpt.tokenizer?.decode([id]) ?? String(id),
  });
  await writeFile(out, JSON.stringify(json));
  console.log(
    `${out}: ${json.nodes.length} nodes, ${json.links.length} links (${layout.nFeatures} features traced)`,
  );
} finally {
  await dict.close();
  await runtime.release();
}
