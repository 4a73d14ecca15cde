import { mkdtempSync, rmSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  bytesSource,
  Intervener,
  loadCheckpoint,
  loadDictionary,
  Model,
  patchInterventions,
  prepareTokens,
  SafetensorsFile,
} from '@loupe/core';
import { nodeFiles, nodeRuntime } from '@loupe/core/node';
import { shippedModelDir } from '@loupe/organism/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveDictionaryDir } from '../src/model-option.ts';
import { loupe } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'cli-patch-'));
const runtime = nodeRuntime();
let iv: Intervener;
let tok: (text: string) => Int32Array;
beforeAll(async () => {
  const ckpt = await loadCheckpoint(shippedModelDir('organism-s'), nodeFiles());
  const dict = await loadDictionary(resolveDictionaryDir('organism-s/plt'), nodeFiles());
  iv = Intervener.create(await Model.create(ckpt.config, ckpt.weights, ckpt.tokenizer, runtime), dict);
  tok = (text) => prepareTokens({ text }, ckpt.config.dVocab, ckpt.tokenizer);
});
afterAll(async () => {
  await iv.dict.close();
  await runtime.release();
  rmSync(dir, { recursive: true, force: true });
});

const base = ['intervene', '--model', 'organism-s', '--transcoders', 'organism-s/plt', '--prompt', '36+59='];

async function run(name: string, args: string[]) {
  const out = join(dir, `${name}.safetensors`);
  const c = await loupe([...base, ...args, '--out', out]);
  expect(c.err).not.toMatch(/loupe intervene:/);
  expect(c.code).toBe(0);
  const file = await SafetensorsFile.open(bytesSource(await readFile(out)));
  return {
    out: c.out,
    logits: (await file.readF32('logits')).data,
    clean: (await file.readF32('clean_logits')).data,
  };
}

const maxDiff = (a: Float32Array, b: Float32Array) =>
  a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);

describe('intervene --patch-from', () => {
  it('patching a prompt from itself changes nothing', async () => {
    const r = await run('self', [
      '--patch-from',
      '36+59=',
      '--patch-positions',
      '-1:-1',
      '--patch-positions',
      '2:2',
    ]);
    expect(r.out).toMatch(
      /patched from "36\+59=" at positions -1→-1, 2→2: [1-9]\d* feature values \(0 set to 0\)/,
    );
    expect(maxDiff(r.logits, r.clean)).toBeLessThan(1e-3);
  });

  it('writes the other prompt’s features into the last position, as patchInterventions does', async () => {
    const r = await run('other', ['--patch-from', '12+13=']);
    const features = await patchInterventions(iv, tok('12+13='), tok('36+59='), {
      positions: [{ from: -1, to: -1 }],
    });
    const direct = await iv.intervene(tok('36+59='), { features }, { mode: 'constrained' });
    expect(r.out).toContain(`: ${features.length} feature values`);
    expect(maxDiff(r.logits, direct.logits.data)).toBeLessThan(1e-4);
    expect(maxDiff(r.logits, r.clean)).toBeGreaterThan(0.1);
  });

  it('selects features by layer, by L:P:F or by a supernode file, with the source activations', async () => {
    const acts = await iv.activations(tok('12+13='), { layers: [1] }); // [1, T, dTc]
    const T = acts.shape[1];
    const dTc = acts.shape[2];
    const row = acts.data.subarray((T - 1) * dTc, T * dTc);
    const f = row.findIndex((v) => v > 0);
    const one = await run('feature', ['--patch-from', '12+13=', '--patch-feature', `1:${T - 1}:${f}`]);
    expect(one.out).toMatch(/: 1 feature values \(0 set to 0\)/);
    expect(one.out).toMatch(new RegExp(`L1 pos ${T - 1} feature ${f}: [-\\d.e]+ → ${row[f].toPrecision(4)}`));
    const group = join(dir, 'group.json');
    await writeFile(group, JSON.stringify({ label: 'g', nodeIds: [`1_${f}_${T - 1}`] }));
    const byGroup = await run('group', ['--patch-from', '12+13=', '--patch-group', group]);
    expect(maxDiff(byGroup.logits, one.logits)).toBe(0);
    const layer = await run('layer', ['--patch-from', '12+13=', '--patch-layers', '1']);
    const live = row.reduce((n, v) => n + (v !== 0 ? 1 : 0), 0);
    expect(Number(/: (\d+) feature values/.exec(layer.out)?.[1])).toBeGreaterThanOrEqual(live);
  });
});

describe('intervene --steer', () => {
  it('steering along a decoder direction equals setting that (inactive) feature, in every mode', async () => {
    const acts = await iv.activations(tok('36+59='), { layers: [1] });
    const T = acts.shape[1];
    const dTc = acts.shape[2];
    const f = acts.data.subarray((T - 1) * dTc, T * dTc).indexOf(0);
    for (const mode of ['constrained', 'free']) {
      const steer = await run(`steer-${mode}`, ['--steer', `1:${f}*3@-1`, '--mode', mode]);
      expect(steer.out).toContain(`steering along L1 feature ${f}'s decoder × 3 at blocks.1.hook_mlp_out`);
      const set = await run(`set-${mode}`, ['--set', `1:-1:${f}=3`, '--mode', mode]);
      expect(set.out).toMatch(new RegExp(`L1 pos ${T - 1} feature ${f}: 0\\.000 → 3\\.000`));
      expect(maxDiff(steer.logits, set.logits)).toBeLessThan(1e-3);
      expect(maxDiff(steer.logits, steer.clean)).toBeGreaterThan(1e-3);
    }
  });

  it('steers generation too', async () => {
    const r = await run('gen', ['--steer', '3:1457*-20', '--generate', '2']);
    expect(r.out).toMatch(/generated \(clean\): {2}".*"\ngenerated \(constrained\): ".*"/);
  });
});

describe('bad patch and steer flags', () => {
  it('are refused with a clear message', async () => {
    const usage: [string[], RegExp][] = [
      [['--steer', '1:5'], /--steer '1:5': expected LAYER:FEATURE\*SCALE/],
      [['--steer', '1:5*x'], /scale 'x' is not a number/],
      [['--patch-layers', '1'], /need --patch-from TEXT/],
      [['--patch-from', '1+2=', '--patch-positions', '4'], /expected FROM:TO positions/],
      [
        ['--patch-from', '1+2=', '--patch-layers', '1', '--patch-feature', '1:4:5'],
        /--patch-layers selects whole layers/,
      ],
      [['--patch-from', '1+2=', '--patch-feature', '1:4'], /expected LAYER:POS:FEATURE/],
      [['--patch-from', '1+2=', '--patch-feature', '1:4:5', '--patch-group', 'g.json'], /not both/],
      [[], /nothing to do/],
    ];
    for (const [args, message] of usage) {
      const c = await loupe([...base, ...args, '--out', join(dir, 'bad.safetensors')]);
      expect(c.code, args.join(' ')).toBe(2);
      expect(c.err).toMatch(message);
    }
    const running: [string[], RegExp][] = [
      [['--patch-from', '1+2=', '--patch-layers', '9'], /unknown layer 9/],
      [['--steer', '1:99999*2'], /feature index 99999 is out of range/],
      [
        ['--patch-from', '1+2=', '--patch-feature', '1:2:5', '--patch-positions', '-1:-1'],
        /member position 2 is not a patched source position/,
      ],
    ];
    for (const [args, message] of running) {
      const c = await loupe([...base, ...args, '--out', join(dir, 'bad.safetensors')]);
      expect(c.code, args.join(' ')).toBe(1);
      expect(c.err).toMatch(message);
    }
  });
});
