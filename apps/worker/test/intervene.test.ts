import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { interveneParams } from '@loupe/api/jobs';
import { bytesSource, SafetensorsFile, writeDictionary } from '@loupe/core';
import { nodeFiles } from '@loupe/core/node';
import { afterAll, describe, expect, it } from 'vitest';
import { removeFixtureDirs, writeRandomCheckpoint, randomDictionary } from '@loupe/core/testing';
import { runIntervene } from '../src/handlers/intervene.ts';
import { PermanentJobError } from '../src/registry.ts';
import { jobContext, runLoupe, someIds } from './helpers.ts';

afterAll(removeFixtureDirs);

describe('intervene handler', () => {
  it('reports exactly what `pnpm loupe intervene` records, for every mode and with generation', async () => {
    const ck = await writeRandomCheckpoint('llama', { seed: 5 });
    const tc = join(ck.dir, 'transcoders');
    await writeDictionary(tc, nodeFiles(), randomDictionary(ck.config.nLayers, ck.config.dModel));
    const group = { label: 'g', nodeIds: ['0_3_2', '1_5_4'] };
    await writeFile(join(tc, 'group.json'), JSON.stringify(group));
    const out = join(tc, 'iv.safetensors');
    await runLoupe([
      'intervene',
      '--model',
      ck.dir,
      '--transcoders',
      tc,
      '--tokens',
      '1,5,9,3,17,4',
      '--set',
      '0:-1:7=3',
      '--set',
      '1:2..:1=0',
      '--scale',
      `${join(tc, 'group.json')}=-2`,
      '--mode',
      'free',
      '--compare',
      '--generate',
      '3',
      '--out',
      out,
    ]);
    const file = await SafetensorsFile.open(bytesSource(new Uint8Array(await readFile(out))));
    const fromCli = JSON.parse(file.metadata.report);

    const params = interveneParams.parse({
      ...someIds,
      tokens: [1, 5, 9, 3, 17, 4],
      set: ['0:-1:7=3', '1:2..:1=0'],
      scale: [{ group, factor: -2 }],
      mode: 'free',
      compare: true,
      generate: 3,
    });
    const report = await runIntervene(params, jobContext(undefined, { model: ck.dir, dictionary: tc }).ctx);
    expect(report).toEqual(fromCli);
    expect((report.runs as unknown[]).length).toBe(3);
    // Every position carries both sides of each token in either top-k list (the lab's bars read them).
    for (const run of report.runs as { positions: { clean: { id: number }[]; union: { id: number }[] }[] }[])
      for (const p of run.positions)
        expect(p.union.map((t) => t.id)).toEqual(expect.arrayContaining(p.clean.map((t) => t.id)));
    // --generate 3 continues the prompt by 3 tokens, in the clean and the intervened model alike.
    const generation = report.generation as {
      prompt: number[];
      clean: { tokens: number[] };
      intervened: { tokens: number[] };
    };
    expect(generation.prompt).toEqual([1, 5, 9, 3, 17, 4]);
    expect(generation.clean.tokens).toHaveLength(3);
    expect(generation.intervened.tokens).toHaveLength(3);
  });

  it('rejects specs a retry cannot fix, naming them', async () => {
    const base = { ...someIds, tokens: [1, 2] };
    expect(() => interveneParams.parse(base)).toThrow(/nothing to do/);
    expect(() => interveneParams.parse({ ...base, set: ['0:1:2=1'], mode: 'frozen' })).toThrow();
    const bad = interveneParams.parse({ ...base, set: ['0:1:2'] });
    await expect(runIntervene(bad, jobContext().ctx)).rejects.toThrow(PermanentJobError);
    await expect(runIntervene(bad, jobContext().ctx)).rejects.toThrow(/LAYER:POS:FEATURE=VALUE/);
  });
});
