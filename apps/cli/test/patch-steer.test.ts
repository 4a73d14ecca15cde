import { mkdtempSync, rmSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  bytesSource,
  differenceOfMeans,
  f32,
  Intervener,
  klDivergence,
  loadCheckpoint,
  loadDictionary,
  Model,
  patchInterventions,
  prepareTokens,
  residualSteeringHook,
  SafetensorsFile,
  writeSafetensors,
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

const subject = ['--model', 'organism-s', '--transcoders', 'organism-s/plt'];
const prompted = (prompt: string) => ['intervene', ...subject, '--prompt', prompt];
const base = prompted('36+59=');

async function run(name: string, args: string[], prompt = '36+59=') {
  const path = join(dir, `${name}.safetensors`);
  const c = await loupe([...prompted(prompt), ...args, '--out', path]);
  expect(c.err).not.toMatch(/loupe intervene:/);
  expect(c.code).toBe(0);
  const file = await SafetensorsFile.open(bytesSource(await readFile(path)));
  return {
    out: c.out,
    path,
    file,
    logits: (await file.readF32('logits')).data, // [T, V]
    clean: (await file.readF32('clean_logits')).data, // [T, V]
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

/** The next-token logits of the last position of [T, V] logits: [V]. */
const lastRow = (logits: Float32Array) => logits.subarray(logits.length - iv.model.config.dVocab);

const probOf = (logits: Float32Array, id: number) => {
  const m = Math.max(...logits);
  const z = logits.reduce((s, x) => s + Math.exp(x - m), 0);
  return Math.exp(logits[id] - m) / z;
};

const ENGLISH = ['the opposite of big is', 'the opposite of fast is', 'the opposite of good is'];
const FRENCH = ['le contraire de grand est', 'le contraire de rapide est', 'le contraire de bon est'];
const sets = [...ENGLISH.flatMap((p) => ['--steer-a', p]), ...FRENCH.flatMap((p) => ['--steer-b', p])];
const HOT = 'the opposite of hot is';

describe('intervene --steer-diff', () => {
  it('saves mean(A) − mean(B) of the residual and, from A = the prompt itself, lands exactly on B at the last layer', async () => {
    const other = '12+13=';
    const r = await run('diff-self', [
      '--steer-diff',
      '3*-1@-1',
      '--steer-a',
      '36+59=',
      '--steer-b',
      other,
      '--mode',
      'free',
    ]);
    expect(r.out).toMatch(
      /steering along mean\(A\) − mean\(B\) of blocks\.3\.hook_resid_post at position -1 \(1 vs 1 prompts, norm [\d.]+\) × -1/,
    );
    const saved = await r.file.readF32('steer_diff_L3');
    const direct = await differenceOfMeans(iv.model, residualSteeringHook(3), [tok('36+59=')], [tok(other)]);
    expect(saved.shape).toEqual([iv.model.config.dModel]);
    expect(maxDiff(saved.data, direct)).toBe(0);
    // After the last block only the final norm and the unembedding act, position by position.
    const b = (await iv.model.run(tok(other))).logits.data;
    expect(maxDiff(lastRow(r.logits), lastRow(b))).toBeLessThan(1e-3);
    expect(maxDiff(lastRow(r.clean), lastRow(b))).toBeGreaterThan(1);
    // Earlier positions are not steered.
    const before = (logits: Float32Array) => logits.subarray(0, logits.length - iv.model.config.dVocab);
    expect(maxDiff(before(r.logits), before(r.clean))).toBeLessThan(1e-4);
  });

  it('steering by 0 changes nothing', async () => {
    const r = await run('diff-zero', ['--steer-diff', '1*0', ...sets], HOT);
    expect(maxDiff(r.logits, r.clean)).toBeLessThan(1e-5);
  });

  it('toward French prompts, an English antonym prompt moves toward the French continuation', async () => {
    const r = await run('diff-french', ['--steer-diff', '3*-1@-1', ...sets, '--mode', 'free'], HOT);
    const french = lastRow((await iv.model.run(tok('le contraire de chaud est'))).logits.data);
    const froid = tok(' froid').at(-1) as number;
    expect(french.indexOf(Math.max(...french))).toBe(froid);
    expect(probOf(lastRow(r.logits), froid)).toBeGreaterThan(probOf(lastRow(r.clean), froid) + 0.05);
    expect(klDivergence(french, lastRow(r.logits))).toBeLessThan(klDivergence(french, lastRow(r.clean)));
  });

  it('a saved direction steers as --steer-vector exactly as --steer-diff, generation included', async () => {
    const diff = await run('diff-gen', ['--steer-diff', '1*-1', ...sets, '--generate', '2'], HOT);
    expect(diff.out).toMatch(/generated \(clean\): {2}".*"\ngenerated \(constrained\): ".*"/);
    const vector = `1:${diff.path}#steer_diff_L1*-1`;
    const vec = await run('vector', ['--steer-vector', vector, '--generate', '2'], HOT);
    expect(vec.out).toMatch(
      /steering along .*#steer_diff_L1 \(norm [\d.]+\) × -1 at blocks\.1\.hook_resid_post/,
    );
    expect(maxDiff(vec.logits, diff.logits)).toBe(0);
    const generated = async (r: typeof diff) => (await r.file.readF32('generated_logits')).data;
    expect(maxDiff(await generated(vec), await generated(diff))).toBe(0);
    expect(maxDiff(diff.logits, diff.clean)).toBeGreaterThan(1e-2);
    // A file holding one tensor needs no name.
    const one = join(dir, 'one.safetensors');
    await writeFile(one, writeSafetensors({ v: await diff.file.readF32('steer_diff_L1') }));
    const alone = await run('one', ['--steer-vector', `1:${one}*-1`], HOT);
    expect(maxDiff(alone.logits, diff.logits)).toBe(0);
  });
});

describe('bad --steer-diff and --steer-vector input', () => {
  it('is refused with a clear message', async () => {
    const usage: [string[], RegExp][] = [
      [['--steer-diff', '1*2', '--steer-a', 'a'], /--steer-diff needs both prompt sets/],
      [['--steer-diff', '1*2'], /--steer-diff needs both prompt sets/],
      [['--steer-a', 'a', '--steer-b', 'b'], /--steer-a and --steer-b are the prompt sets of --steer-diff/],
      [['--steer-diff', '1*x', ...sets], /scale 'x' is not a number/],
      [['--steer-diff', '1', ...sets], /expected LAYER\*SCALE/],
      [['--steer-diff', '1*2', '--steer-a', '', '--steer-b', 'b'], /a --steer-a prompt is empty/],
      [['--steer-diff', '1*2', '--steer-pos', '2', ...sets], /counted from the end/],
      [
        ['--steer-diff', '4*2', ...sets],
        /--steer-diff: layer 4 is out of range \(the model has layers 0\.\.3\)/,
      ],
      [['--steer-vector', `9:${join(dir, 'x.safetensors')}*2`], /--steer-vector: layer 9 is out of range/],
      [['--steer-vector', 'v.safetensors*2'], /expected LAYER:FILE\[#TENSOR\]\*SCALE/],
    ];
    for (const [args, message] of usage) {
      const c = await loupe([...base, ...args, '--out', join(dir, 'bad.safetensors')]);
      expect(c.code, args.join(' ')).toBe(2);
      expect(c.err).toMatch(message);
    }
    const two = join(dir, 'two.safetensors');
    await writeFile(two, writeSafetensors({ a: f32([128]), b: f32([3]) }));
    const running: [string[], RegExp][] = [
      [
        ['--steer-vector', `1:${join(dir, 'missing.safetensors')}*2`],
        /--steer-vector .*missing\.safetensors: ENOENT/,
      ],
      [['--steer-vector', `1:${two}*2`], /2 tensors \(it has a, b\); name one as FILE#TENSOR/],
      [['--steer-vector', `1:${two}#c*2`], /no tensor 'c'/],
      [['--steer-vector', `1:${two}#b*2`], /#b: \[3\] is not a \[128\] direction/],
    ];
    for (const [args, message] of running) {
      const c = await loupe([...base, ...args, '--out', join(dir, 'bad.safetensors')]);
      expect(c.code, args.join(' ')).toBe(1);
      expect(c.err).toMatch(message);
    }
  });
});
