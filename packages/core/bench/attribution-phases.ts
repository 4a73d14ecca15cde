/**
 * Where `pnpm loupe attribute` spends its time: the CLI's steps replayed in this process, each timed. Pruning
 * is timed on its own first (`prune`); `graphJson` is the whole createGraphJson, which prunes again and scores
 * the graph with pruning's influence.
 */
import { open, writeFile } from 'node:fs/promises';
import { attribute } from '../src/attribution/trace-attribute.ts';
import { graphLayout } from '../src/attribution/graph.ts';
import { createGraphJson } from '../src/attribution/json.ts';
import { pruneGraph } from '../src/attribution/prune.ts';
import { type RawLayout, rawGraphChunks } from '../src/attribution/raw.ts';
import { loadDictionary } from '../src/dictionary/load.ts';
import { loadCheckpoint } from '../src/io/checkpoint.ts';
import { Model } from '../src/model/model.ts';
import { nodeFiles } from '../src/node/files.ts';
import { nodeRuntime } from '../src/node/runtime.ts';

export interface PhaseTimes {
  load: number;
  forward: number;
  compile: number;
  logitRows: number;
  featureRows: number;
  assemble: number;
  prune: number;
  graphJson: number;
  jsonWrite: number;
  raw?: number;
}

export async function loupePhases(
  modelDir: string,
  dictDir: string,
  tokens: Int32Array,
  out: { json: string; raw?: string; rawLayout?: RawLayout },
  threads: number,
): Promise<{ ms: PhaseTimes; nActive: number; links: number }> {
  const files = nodeFiles();
  let t = performance.now();
  const lap = () => {
    const now = performance.now();
    const ms = now - t;
    t = now;
    return ms;
  };
  const ckpt = await loadCheckpoint(modelDir, files);
  const dict = await loadDictionary(dictDir, files);
  const runtime = nodeRuntime({ intraOpNumThreads: threads });
  const model = await Model.create(ckpt.config, ckpt.weights, ckpt.tokenizer, runtime);
  const load = lap();
  const marks: Record<string, number> = {};
  const graph = await attribute(
    model,
    dict,
    { tokens },
    {
      onProgress: (p) => {
        const key = p.phase === 'setup' ? `setup${p.done}` : p.phase;
        marks[key] = performance.now();
      },
    },
  );
  const end = performance.now();
  const attributionStart = t;
  lap();
  const layout = graphLayout(graph);
  pruneGraph(graph.adjacency, layout, graph.logitProbabilities);
  const prune = lap();
  const json = createGraphJson(graph, { slug: 'bench', scan: 'bench', decodeToken: String });
  const graphJson = lap();
  await writeFile(out.json, JSON.stringify(json));
  const jsonWrite = lap();
  let raw: number | undefined;
  if (out.raw) {
    const fh = await open(out.raw, 'w');
    try {
      for (const chunk of rawGraphChunks(graph, { layout: out.rawLayout })) await fh.write(chunk);
    } finally {
      await fh.close();
    }
    raw = lap();
  }
  await dict.close();
  await runtime.release();
  return {
    ms: {
      load,
      forward: marks.setup1 - attributionStart,
      compile: marks.setup2 - marks.setup1,
      logitRows: marks.logits - marks.setup2,
      featureRows: marks.features - marks.logits,
      assemble: end - marks.features,
      prune,
      graphJson,
      jsonWrite,
      ...(raw !== undefined ? { raw } : {}),
    },
    nActive: graph.activeFeatures.length / 3,
    links: json.links.length,
  };
}
