import { type Checkpoint, type DictionaryCorpus, type FileAccess, textDictionaryCorpus } from '@loupe/core';
import { batches } from './batches.ts';
import { loadTokenizer, type OrganismTokenizer } from './tokenizer.ts';

/** Batches of B sequences of T tokens, cut from the curriculum's flat batches. */
function* curriculumStream(
  tok: OrganismTokenizer,
  B: number,
  T: number,
  seed: number,
): Generator<Int32Array[]> {
  for (const b of batches(tok, { batchSize: B, nCtx: T, seed, splitSeed: seed })) {
    yield Array.from({ length: B }, (_, i) => b.tokens.slice(i * T, (i + 1) * T));
  }
}

/**
 * The organism curriculum as a dictionary-training corpus (core's runDictionaryPipeline), read with the
 * organism tokenizer in `modelDir`. Held-out text comes from another stream seed: documents never trained on.
 */
export async function organismDictionaryCorpus(
  modelDir: string,
  files: FileAccess,
  seed: number,
  B: number,
  T: number,
): Promise<DictionaryCorpus> {
  let tok: OrganismTokenizer;
  try {
    const read = async (f: string) =>
      JSON.parse(await files.readText(files.join(modelDir, f))) as Record<string, unknown>;
    tok = loadTokenizer({
      tokenizer: await read('tokenizer.json'),
      config: await read('tokenizer_config.json'),
    });
  } catch (e) {
    throw new Error(
      `the default corpus is the organism curriculum, which needs the organism's tokenizer in ${modelDir} (${(e as Error).message}); pass --text FILE (a worker job's text param) for other models`,
    );
  }
  return {
    train: curriculumStream(tok, B, T, seed),
    heldOut: () => curriculumStream(tok, B, T, seed + 1_000_003),
    exclude: [tok.padId, tok.bosId],
    tokenString: (id) => tok.vocab[id] ?? `<${id}>`,
    description: `organism curriculum (seed ${seed})`,
  };
}

/**
 * The corpus `train-dictionary` (CLI and worker job) trains on: the lines of the `text` file when one is given,
 * else the organism curriculum of `modelDir`; batches of `batchSeqs` contexts of min(nCtx, 64) tokens.
 */
export async function dictionaryCorpus(
  modelDir: string,
  files: FileAccess,
  ckpt: Pick<Checkpoint, 'config' | 'tokenizer'>,
  o: { text?: string; seed: number; batchSeqs: number },
): Promise<DictionaryCorpus> {
  const T = Math.min(ckpt.config.nCtx, 64);
  return o.text
    ? textDictionaryCorpus(await files.readText(o.text), o.text, ckpt, o.batchSeqs, T)
    : organismDictionaryCorpus(modelDir, files, o.seed, o.batchSeqs, T);
}
