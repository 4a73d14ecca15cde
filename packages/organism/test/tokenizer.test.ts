import { Tokenizer } from '@huggingface/tokenizers';
import { describe, expect, it } from 'vitest';
import { evalSets, sampleDocuments } from '../src/curriculum/index.ts';
import {
  buildTokenizerFiles,
  buildVocab,
  loadTokenizer,
  MAX_NUMBER_TOKEN,
  preTokenize,
} from '../src/tokenizer.ts';

const vocab = buildVocab(3, 5_000);
const files = buildTokenizerFiles(vocab);
const tok = loadTokenizer(files);

describe('organism tokenizer (tokenizer.json through @huggingface/tokenizers)', () => {
  it('is small and word-level', () => {
    expect(vocab.length).toBeGreaterThan(500);
    expect(vocab.length).toBeLessThan(3000);
    expect(new Set(vocab).size).toBe(vocab.length);
    expect((files.tokenizer.model as { type: string }).type).toBe('WordLevel');
  });

  it('makes every number 0..198 exactly one token', () => {
    for (let n = 0; n <= MAX_NUMBER_TOKEN; n++) {
      const ids = tok.encode(String(n), false);
      expect(ids).toHaveLength(1);
      expect(tok.vocab[ids[0]]).toBe(String(n));
    }
    expect(tok.encode('36+59=95', false).map((i) => tok.vocab[i])).toEqual(['36', '+', '59', '=', '95']);
  });

  it('gives each Chinese character, word and newline its own token', () => {
    expect(tok.encode('小的反义词是大。', false).map((i) => tok.vocab[i])).toEqual([
      '小',
      '的',
      '反',
      '义',
      '词',
      '是',
      '大',
      '。',
    ]);
    const pieces = tok.encode(
      "the boy saw the cat,\nwhich sport does Anna Batkin play? I don't know.",
      false,
    );
    expect(pieces.map((i) => tok.vocab[i])).toEqual([
      'the',
      'boy',
      'saw',
      'the',
      'cat',
      ',',
      '\n',
      'which',
      'sport',
      'does',
      'Anna',
      'Batkin',
      'play',
      '?',
      'I',
      "don't",
      'know',
      '.',
    ]);
  });

  it('round-trips every document of a large sample exactly (ids and text), with no <unk>', () => {
    for (const doc of sampleDocuments(4_000, 99)) {
      const ids = tok.encode(doc.text);
      expect(ids[0]).toBe(tok.bosId);
      expect(ids).not.toContain(tok.unkId);
      expect(ids.length).toBeLessThanOrEqual(64);
      expect(tok.decode(ids, true)).toBe(doc.text);
      expect(tok.encode(tok.decode(ids, true))).toEqual(ids);
      expect(ids.slice(1).map((i) => tok.vocab[i])).toEqual(preTokenize(doc.text));
    }
  });

  it('covers every eval prompt and answer', () => {
    for (const item of Object.values(evalSets(3)).flat()) {
      for (const text of [item.prompt, ...item.expected])
        expect(tok.encode(text, false)).not.toContain(tok.unkId);
    }
  });

  it('maps unknown words to <unk> instead of failing', () => {
    expect(tok.encode('zyzzyva', false)).toEqual([tok.unkId]);
  });

  it('survives a JSON round trip as files on disk would', () => {
    const parsed = JSON.parse(JSON.stringify(files.tokenizer));
    const hf = new Tokenizer(parsed, JSON.parse(JSON.stringify(files.config)));
    expect(hf.encode('the opposite of small is big.').ids).toEqual(
      tok.encode('the opposite of small is big.'),
    );
  });
});

describe('through @loupe/core (the path every checkpoint takes)', () => {
  it('encodes, picks <bos> and decodes like the organism tokenizer', async () => {
    const core = await import('@loupe/core');
    const t = core.loadTokenizer(JSON.parse(JSON.stringify(files.tokenizer)), files.config);
    expect(t.bosId).toBe(tok.bosId);
    expect(t.vocabSize).toBe(vocab.length);
    for (const doc of sampleDocuments(200, 5)) {
      expect(Array.from(t.encode(doc.text))).toEqual(tok.encode(doc.text, false));
      expect(t.decode(t.encode(doc.text))).toBe(doc.text);
    }
  });
});
