import {
  type Checkpoint,
  type DictionaryCorpus,
  type FileAccess,
  packedBatches,
  type TokenBatches,
  textDictionaryCorpus,
  textDocuments,
} from '@loupe/core';
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

/** What a feature index reads: token batches, the tokens its examples skip, and how to print a token. */
export interface IndexCorpus {
  batches: TokenBatches;
  exclude: number[];
  tokenString: (id: number) => string;
}

/**
 * The text `index-features` (CLI and worker job) indexes: every line of the `text` file when one is given, else
 * the organism curriculum's held-out stream from `modelDir`; batches of `batchSeqs` contexts of `T` tokens.
 */
export async function indexCorpus(
  modelDir: string,
  files: FileAccess,
  ckpt: Pick<Checkpoint, 'config' | 'tokenizer'>,
  o: { text?: string; seed: number; batchSeqs: number; T: number },
): Promise<IndexCorpus> {
  const { text, batchSeqs: B, T } = o;
  if (!text) {
    const c = await organismDictionaryCorpus(modelDir, files, o.seed, B, T);
    return { batches: c.heldOut(), exclude: c.exclude, tokenString: c.tokenString };
  }
  const { docs, tokenizer } = textDocuments(await files.readText(text), text, ckpt);
  const tokens = docs.reduce((n, d) => n + d.length, 0);
  if (tokens < B * T) throw new Error(`${text}: ${tokens} tokens do not fill one batch of ${B} × ${T}`);
  return {
    batches: packedBatches(docs, B, T, false),
    exclude: [...tokenizer.specialIds],
    tokenString: (id) => tokenizer.idToToken(id) ?? `<${id}>`,
  };
}
