import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  bytesSource,
  Intervener,
  loadCheckpoint,
  loadDictionary,
  Model,
  SafetensorsFile,
  writeDictionary,
} from '@loupe/core';
import { nodeFiles, nodeRuntime } from '@loupe/core/node';
import { afterAll, describe, expect, it } from 'vitest';
import { removeFixtureDirs, writeRandomCheckpoint, randomDictionary } from '@loupe/core/testing';
import { loupe } from './helpers.ts';

afterAll(removeFixtureDirs);

async function fixture() {
  const ck = await writeRandomCheckpoint('llama', { seed: 5 });
  const tc = join(ck.dir, 'transcoders');
  const dict = randomDictionary(ck.config.nLayers, ck.config.dModel);
  await writeDictionary(tc, nodeFiles(), dict);
  const group = join(tc, 'group.json');
  await writeFile(group, JSON.stringify({ label: 'g', nodeIds: ['0_3_2', '1_5_4'] }));
  return { ck, tc, group };
}

describe('loupe intervene', () => {
  it('writes the intervened logits, prints before/after tokens, compares modes and generates', async () => {
    const { ck, tc, group } = await fixture();
    const out = join(tc, 'iv.safetensors');
    const args = ['intervene', '--model', ck.dir, '--transcoders', tc, '--tokens', '1,5,9,3,17,4'];
    const c = await loupe([
      ...args,
      '--set',
      '0:-1:7=3',
      '--set',
      '1:2..:1=0',
      '--scale',
      `${group}=-2`,
      '--mode',
      'free',
      '--compare',
      '--out',
      out,
    ]);
    expect(c.err).not.toMatch(/loupe intervene:/);
    expect(c.code).toBe(0);
    expect(c.out).toMatch(/\[free\] before: .*\n\[free\] after: /);
    expect(c.out).toMatch(/constrained vs free at the last position: KL/);
    const file = await SafetensorsFile.open(bytesSource(await readFile(out)));
    expect([...file.tensors.keys()].sort()).toEqual(
      ['clean_logits', 'logits', 'logits_constrained', 'logits_free', 'logits_frozen-attention'].sort(),
    );
    const logits = await file.readF32('logits');
    expect(logits.shape).toEqual([6, ck.config.dVocab]);
    // The same run through the library.
    const files = nodeFiles();
    const model = await Model.create(
      ck.config,
      (await loadCheckpoint(ck.dir, files)).weights,
      undefined,
      nodeRuntime(),
    );
    const iv = Intervener.create(model, await loadDictionary(tc, files));
    const r = await iv.intervene(
      Int32Array.of(1, 5, 9, 3, 17, 4),
      {
        features: [
          { layer: 0, pos: -1, feature: 7, value: 3 },
          { layer: 1, pos: { start: 2 }, feature: 1, value: 0 },
        ],
        scales: [
          {
            group: {
              label: 'g',
              members: [
                { layer: 0, feature: 3, pos: 2 },
                { layer: 1, feature: 5, pos: 4 },
              ],
            },
            factor: -2,
          },
        ],
      },
      { mode: 'free' },
    );
    let worst = 0;
    for (let i = 0; i < r.logits.data.length; i++)
      worst = Math.max(worst, Math.abs(r.logits.data[i] - logits.data[i]));
    expect(worst).toBeLessThan(1e-5);
    const report = JSON.parse(file.metadata.report);
    expect(report.runs.map((x: { mode: string }) => x.mode)).toEqual([
      'constrained',
      'frozen-attention',
      'free',
    ]);

    const genOut = join(tc, 'gen.safetensors');
    const g = await loupe([...args, '--set', '0:3..:2=4', '--generate', '3', '--out', genOut]);
    expect(g.code).toBe(0);
    expect(g.out).toMatch(/generated \(constrained\): /);
    const gen = await SafetensorsFile.open(bytesSource(await readFile(genOut)));
    expect((await gen.readF32('generated_logits')).shape).toEqual([3, ck.config.dVocab]);
  });

  it('names bad specs: malformed --set, out-of-range feature, unknown layer, position beyond the prompt, bad group file', async () => {
    const { ck, tc } = await fixture();
    const out = join(tc, 'x.safetensors');
    const base = ['intervene', '--model', ck.dir, '--transcoders', tc, '--tokens', '1,5,9', '--out', out];
    const cases: [string[], number, RegExp][] = [
      [['--set', '0:1:2'], 2, /expected LAYER:POS:FEATURE=VALUE/],
      [[], 2, /nothing to do/],
      [['--set', '0:1:2=1', '--mode', 'frozen'], 2, /--mode/],
      [['--set', '0:1:99=1'], 1, /feature index 99 is out of range \[0, 24\)/],
      [['--set', '4:1:2=1'], 1, /unknown layer 4/],
      [['--set', '0:3:2=1'], 1, /position 3 is beyond the 3-token prompt/],
      [['--scale', `${join(tc, 'missing.json')}=2`], 1, /missing\.json/],
      [['--scale', 'g.json'], 2, /GROUP_FILE=FACTOR/],
    ];
    const bad = join(tc, 'bad.json');
    await writeFile(bad, JSON.stringify({ label: 'g', nodeIds: ['E_1_2'] }));
    cases.push([['--scale', `${bad}=2`], 1, /'E_1_2' is not a feature node id/]);
    for (const [extra, code, msg] of cases) {
      const c = await loupe([...base, ...extra]);
      expect(c.code).toBe(code);
      expect(c.err).toMatch(msg);
    }
  });
});
