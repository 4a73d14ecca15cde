import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importGraphJson } from '@loupe/core';
import { removeFixtureDirs, writeAttributeFixture } from '@loupe/core/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { loupe } from './helpers.ts';

afterAll(removeFixtureDirs);

/** The fixture prompt: five ids, a BOS prepended, so positions 0..5. */
const TOKENS = '5,9,3,12,7';
const LAST = 5;

async function fixture() {
  const f = await writeAttributeFixture(3);
  const config = JSON.parse(await readFile(join(f.model, 'config.json'), 'utf8')) as {
    num_hidden_layers: number;
    num_attention_heads: number;
  };
  const base = ['attribute', '--model', f.model, '--transcoders', f.transcoders, '--tokens', TOKENS];
  return { f, base, nLayers: config.num_hidden_layers, nHeads: config.num_attention_heads };
}

describe('loupe attribute: attention edges and inactive features', () => {
  it('writes QK decompositions and inhibited inactive features into the graph JSON and prints them', async () => {
    const { f, base, nLayers } = await fixture();
    const plainOut = join(f.model, 'plain.json');
    expect((await loupe([...base, '--out', plainOut])).code).toBe(0);
    const plain = importGraphJson(await readFile(plainOut, 'utf8'));
    const feature = plain.nodes.find((n) => /transcoder/.test(n.feature_type) && Number(n.layer) > 0);
    if (!feature) throw new Error('the fixture graph has no feature above layer 0');

    const out = join(f.model, 'qk.json');
    const layer = nLayers - 1;
    const c = await loupe([
      ...base,
      '--out',
      out,
      '--qk',
      `${layer}:0:${LAST}:2`,
      '--qk-into',
      feature.node_id,
      '--qk-top',
      '2',
      '--include-inactive',
      '2',
    ]);
    expect(c.err).not.toMatch(/loupe attribute:/);
    expect(c.code).toBe(0);
    const json = importGraphJson(await readFile(out, 'utf8'));
    const qk = json.loupe?.qk ?? [];
    expect(qk.length).toBe(3);
    expect(qk[0]).toMatchObject({ layer, head: 0, query: LAST, key: 2 });
    expect(qk[0].pattern).toBeGreaterThan(0);
    expect(qk[0].pairs.length).toBeGreaterThan(0);
    for (const e of qk.slice(1)) {
      expect(e.into?.node_id).toBe(feature.node_id);
      expect(e.layer).toBeLessThanOrEqual(Number(feature.layer));
    }
    const ids = new Set(json.nodes.map((n) => n.node_id));
    for (const p of qk.flatMap((e) => e.pairs))
      for (const s of [p.q, p.k])
        if (s.kind !== 'constant') expect(s.in_graph).toBe(ids.has(s.node_id as string));
    // Adding inactive features and QK edges leaves the graph's own nodes, links and scores as they were.
    const inactive = json.nodes.filter((n) => n.inactive);
    expect(inactive.length).toBe(json.loupe?.inactive?.targets.length);
    expect(inactive.length).toBeGreaterThan(0);
    for (const n of inactive) expect(n.activation).toBe(0);
    expect(json.nodes.filter((n) => !n.inactive)).toEqual(plain.nodes);
    expect(json.loupe?.scores).toEqual(plain.loupe?.scores);
    expect(json.loupe?.pruning).toEqual(plain.loupe?.pruning);
    for (const t of json.loupe?.inactive?.targets ?? []) {
      expect(t.inputs).toBeLessThan(0);
      expect(Math.abs(t.inputs + t.bias - t.pre_activation)).toBeLessThan(
        1e-3 * Math.max(1, Math.abs(t.pre_activation)),
      );
    }
    expect(c.out).toMatch(new RegExp(`attention layer ${layer} head 0, query ${LAST} → key 2: score [+-]`));
    expect(c.out).toMatch(new RegExp(`carries [+-][\\d.]+ into ${feature.node_id}`));
    expect(c.out).toMatch(/inactive features: \d+ added \(up to 2 per layer and position\), most inhibited:/);

    // The circuit-tracer id format keeps its nodes unique with the inactive features beside them.
    const ctOut = join(f.model, 'qk-ct.json');
    const ct = await loupe([
      ...base,
      '--out',
      ctOut,
      '--include-inactive',
      '3',
      '--id-format',
      'circuit-tracer',
    ]);
    expect(ct.code).toBe(0);
    expect(importGraphJson(await readFile(ctOut, 'utf8')).loupe?.inactive?.per_site).toBe(3);
  });

  it('rejects edges and nodes the prompt does not have with exit code 2', async () => {
    const { f, base, nLayers, nHeads } = await fixture();
    const out = ['--out', join(f.model, 'bad.json')];
    const cases: [string[], RegExp][] = [
      [['--qk', '1:0:5'], /--qk: an attention edge is written LAYER:HEAD:QUERY:KEY/],
      [['--qk', '0:0:2:4'], /--qk: the key position must not come after the query position/],
      [['--qk', `${nLayers}:0:${LAST}:1`], new RegExp(`layer ${nLayers} is outside \\[0, ${nLayers}\\)`)],
      [['--qk', `0:${nHeads}:${LAST}:1`], new RegExp(`head ${nHeads} is outside`)],
      [['--qk', `0:0:${LAST + 1}:1`], /query position 6 is outside \[0, 6\)/],
      [['--qk-into', 'err_1_2'], /--qk-into: must be a feature or logit node id/],
      [['--qk-into', '0_9999_3'], /node '0_9999_3' is not an active feature of this prompt/],
      [['--qk-into', `${nLayers + 1}_0_2`], /is not a logit target of this graph/],
      [['--qk-top', '3'], /--qk-top needs --qk-into NODE_ID/],
      [['--include-inactive', '0'], /--include-inactive: include-inactive must be a positive integer/],
    ];
    for (const [args, message] of cases) {
      const c = await loupe([...base, ...out, ...args]);
      expect(c.err).toMatch(message);
      expect(c.code).toBe(2);
    }
  });

  it('organism-m PLT on "36+59=": inactive features sum to their pre-activations, targets unchanged, JSON round-trips', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'loupe-qk-'));
    const base = [
      'attribute',
      '--model',
      'organism-m',
      '--transcoders',
      'organism-m/plt',
      '--prompt',
      '36+59=',
    ];
    const plainOut = join(dir, 'plain.json');
    const out = join(dir, 'inactive.json');
    try {
      expect((await loupe([...base, '--out', plainOut])).code).toBe(0);
      const plain = importGraphJson(await readFile(plainOut, 'utf8'));
      const logit = plain.nodes.find((n) => n.feature_type === 'logit')?.node_id as string;
      const c = await loupe([
        ...base,
        '--out',
        out,
        '--include-inactive',
        '2',
        '--qk-into',
        logit,
        '--qk-top',
        '2',
      ]);
      expect(c.code).toBe(0);
      const text = await readFile(out, 'utf8');
      const json = importGraphJson(text);
      expect(JSON.parse(JSON.stringify(json))).toEqual(JSON.parse(text));
      const targets = json.loupe?.inactive?.targets ?? [];
      expect(targets.length).toBeGreaterThan(0);
      const nodes = new Map(json.nodes.map((n) => [n.node_id, n]));
      for (const t of targets) {
        const n = nodes.get(t.node_id);
        expect(n?.inactive).toBe(true);
        expect(n?.activation).toBe(0);
        // Inactive: below every threshold, pushed there by the nodes.
        expect(t.pre_activation).toBeLessThan(0);
        expect(t.inputs).toBeLessThan(0);
        expect(Math.abs(t.inputs + t.bias - t.pre_activation)).toBeLessThan(
          1e-3 * Math.max(1, Math.abs(t.pre_activation)),
        );
      }
      // Every target's value and its bias share, and the graph's scores, are those of the graph without them.
      expect(json.loupe?.bias?.targets).toEqual(plain.loupe?.bias?.targets);
      expect(json.loupe?.scores).toEqual(plain.loupe?.scores);
      const qk = json.loupe?.qk ?? [];
      expect(qk.length).toBe(2);
      for (const e of qk) expect(e.into?.node_id).toBe(logit);
      expect(Math.abs(qk[0].into?.carried ?? 0)).toBeGreaterThanOrEqual(Math.abs(qk[1].into?.carried ?? 0));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('lists the new flags in --help', async () => {
    const c = await loupe(['attribute', '--help']);
    expect(c.code).toBe(0);
    for (const flag of [
      '--qk LAYER:HEAD:QUERY:KEY',
      '--qk-into NODE_ID',
      '--qk-top N',
      '--include-inactive N',
    ])
      expect(c.out).toContain(flag);
  });
});
