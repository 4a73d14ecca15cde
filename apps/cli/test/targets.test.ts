import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importGraphJson, loadCheckpoint, Model } from '@loupe/core';
import { nodeFiles, nodeRuntime } from '@loupe/core/node';
import { shippedModelDir } from '@loupe/organism/node';
import { afterAll, describe, expect, it } from 'vitest';
import { loupe } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'cli-targets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base = ['attribute', '--model', 'organism-s', '--transcoders', 'organism-s/plt', '--prompt', '36+59='];

/** organism-s's logits at the last position of "36+59=" and the ids of two tokens. */
async function lastLogits(a: string, b: string) {
  const ckpt = await loadCheckpoint(shippedModelDir('organism-s'), nodeFiles());
  const rt = nodeRuntime();
  try {
    const model = await Model.create(ckpt.config, ckpt.weights, ckpt.tokenizer, rt);
    const tok = ckpt.tokenizer as NonNullable<typeof ckpt.tokenizer>;
    const tokens = Int32Array.from([tok.bosId as number, ...tok.encode('36+59=')]);
    const { logits } = await model.run(tokens);
    const V = ckpt.config.dVocab;
    const row = logits.data.subarray((tokens.length - 1) * V, tokens.length * V);
    const [ia] = tok.encode(a);
    const [ib] = tok.encode(b);
    return { row, ia, ib, nLayers: ckpt.config.nLayers, T: tokens.length };
  } finally {
    await rt.release();
  }
}

describe('attribute --target, --target-diff, --id-format', () => {
  it('a logit difference is one target whose linearised value is the model’s own difference', async () => {
    const out = join(dir, 'diff.json');
    const c = await loupe([...base, '--target-diff', '95', '96', '--out', out, '--top-features', '2']);
    expect(c.err).not.toMatch(/loupe attribute:/);
    expect(c.code).toBe(0);
    expect(c.out).toMatch(/^next token: "95" \d+\.\d%/m);
    expect(c.out).toContain('targets: logit("95")-logit("96")');
    const j = importGraphJson(await readFile(out, 'utf8'));
    const logits = j.nodes.filter((n) => n.feature_type === 'logit');
    expect(logits).toHaveLength(1);
    const { row, ia, ib } = await lastLogits('95', '96');
    const value = j.loupe?.bias?.targets.find((t) => t.node_id === logits[0].node_id)?.value as number;
    const diff = row[ia] - row[ib];
    expect(Math.abs(value - diff)).toBeLessThan(1e-3 * Math.max(1, Math.abs(diff)));
  });

  it('--target takes token texts and #ids, one logit node each, in circuit-tracer ids when asked', async () => {
    const out = join(dir, 'targets.json');
    const { ia, nLayers, T } = await lastLogits('95', '96');
    const c = await loupe([
      ...base,
      '--target',
      '95',
      '--target',
      '#7',
      '--id-format',
      'circuit-tracer',
      '--node-threshold',
      '1',
      '--edge-threshold',
      '1',
      '--out',
      out,
      '--top-features',
      '0',
    ]);
    expect(c.err).not.toMatch(/loupe attribute:/);
    expect(c.code).toBe(0);
    const j = importGraphJson(await readFile(out, 'utf8'));
    const ids = j.nodes.filter((n) => n.feature_type === 'logit').map((n) => n.node_id);
    expect(ids).toEqual([`${nLayers + 1}_${ia}_${T - 1}`, `${nLayers + 1}_7_${T - 1}`]);
    expect(j.metadata.node_id_format).toBeUndefined();
    const errors = j.nodes.filter((n) => n.feature_type === 'mlp reconstruction error');
    expect(errors.length).toBeGreaterThan(0);
    for (const e of errors) expect(e.node_id).toMatch(/^(0|err)_\d+_\d+$/);
    expect(errors.some((e) => e.node_id.startsWith('0_'))).toBe(true);
    expect(new Set(j.nodes.map((n) => n.node_id)).size).toBe(j.nodes.length);
    expect(j.metadata.dictionary_kind).toBe('per layer transcoder');
  });

  it('the graph JSON carries scores, thresholds and pruning statistics, also printed', async () => {
    const out = join(dir, 'pruned.json');
    const c = await loupe([...base, '--node-threshold', '0.5', '--edge-threshold', '0.9', '--out', out]);
    expect(c.code).toBe(0);
    const j = importGraphJson(await readFile(out, 'utf8'));
    const p = j.loupe?.pruning as NonNullable<NonNullable<typeof j.loupe>['pruning']>;
    expect(p.node_threshold).toBe(0.5);
    expect(p.edge_threshold).toBe(0.9);
    expect(p.nodes.after).toBe(j.nodes.length);
    expect(p.links.after).toBe(j.links.length);
    expect(p.nodes.before).toBeGreaterThan(p.nodes.after);
    expect(p.links.before).toBeGreaterThan(p.links.after);
    const s = j.loupe?.scores as { replacement: number; completeness: number };
    for (const x of [s.replacement, s.completeness]) {
      expect(x).toBeGreaterThan(0);
      expect(x).toBeLessThanOrEqual(1);
    }
    expect(c.out).toContain(`scores: replacement ${s.replacement.toFixed(3)}, completeness`);
    expect(c.out).toMatch(/pruning \(node threshold 0\.5, edge threshold 0\.9\): nodes \d+ → \d+, links/);
  });

  it('rejects bad targets with a clear message', async () => {
    const usage: [string[], RegExp][] = [
      [['--target-diff', '95'], /'--target-diff' needs 2 values/],
      [['--target-diff=95', '96'], /takes 2 values after a space/],
      [['--target', '95', '--target-diff', '95', '96'], /--target TOKEN .* or --target-diff A B, not both/],
      [['--target', '#x'], /a token id is written #N/],
      [['--id-format', 'neuronpedia'], /--id-format: must be 'loupe' or 'circuit-tracer'/],
    ];
    for (const [args, message] of usage) {
      const c = await loupe([...base, ...args, '--out', join(dir, 'bad.json')]);
      expect(c.code, args.join(' ')).toBe(2);
      expect(c.err).toMatch(message);
    }
    const running: [string[], RegExp][] = [
      [['--target', '36+'], /encodes to 2 tokens/],
      [['--target', '#99999'], /token ids must be integers in \[0, \d+\), got 99999/],
      [['--target-diff', '95', '95'], /both sides are token/],
      [['--target', '95', '--target', '95'], /listed twice/],
    ];
    for (const [args, message] of running) {
      const c = await loupe([...base, ...args, '--out', join(dir, 'bad.json')]);
      expect(c.code, args.join(' ')).toBe(1);
      expect(c.err).toMatch(message);
    }
  });
});
