import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { bytesSource, SafetensorsFile, writeDictionary } from '@loupe/core';
import { nodeFiles } from '@loupe/core/node';
import { afterAll, describe, expect, it } from 'vitest';
import {
  removeFixtureDirs,
  writeRandomCheckpoint,
} from '../../../packages/core/test/fixtures/checkpoints.ts';
import { randomDictionary } from '../../../packages/core/test/intervention-fixtures.ts';
import { interveneParams, runIntervene } from '../src/handlers/intervene.ts';
import { PermanentJobError } from '../src/registry.ts';

const dirs: string[] = [];
afterAll(async () => {
  await removeFixtureDirs();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const repoRoot = resolve(import.meta.dirname, '../../..');
const ctx = () => ({
  signal: new AbortController().signal,
  progress: () => {},
  log: () => {},
  jobId: 'j',
  workerId: 'w',
  attempt: 1,
});

describe('intervene handler', () => {
  it('reports exactly what `pnpm loupe intervene` records, for every mode and with generation', async () => {
    const ck = await writeRandomCheckpoint('llama', { seed: 5 });
    const tc = await mkdtemp(join(tmpdir(), 'loupe-worker-tc-'));
    dirs.push(tc);
    await writeDictionary(tc, nodeFiles(), randomDictionary(ck.config.nLayers, ck.config.dModel));
    const group = { label: 'g', nodeIds: ['0_3_2', '1_5_4'] };
    await writeFile(join(tc, 'group.json'), JSON.stringify(group));
    const out = join(tc, 'iv.safetensors');
    // The command `pnpm loupe` runs (package.json: tsx apps/cli/src/main.ts), as a separate process.
    await promisify(execFile)(
      process.execPath,
      [
        '--import',
        'tsx',
        'apps/cli/src/main.ts',
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
      ],
      { cwd: repoRoot },
    );
    const file = await SafetensorsFile.open(bytesSource(new Uint8Array(await readFile(out))));
    const fromCli = JSON.parse(file.metadata.report);

    const params = interveneParams.parse({
      model: ck.dir,
      transcoders: tc,
      tokens: [1, 5, 9, 3, 17, 4],
      set: ['0:-1:7=3', '1:2..:1=0'],
      scale: [{ group, factor: -2 }],
      mode: 'free',
      compare: true,
      generate: 3,
    });
    const report = await runIntervene(params, ctx());
    expect(report).toEqual(fromCli);
    expect((report.runs as unknown[]).length).toBe(3);
    expect(report.generation).toBeDefined();
  });

  it('rejects specs a retry cannot fix, naming them', async () => {
    const base = { model: '/m', transcoders: '/t', tokens: [1, 2] };
    expect(() => interveneParams.parse(base)).toThrow(/nothing to do/);
    expect(() => interveneParams.parse({ ...base, set: ['0:1:2=1'], mode: 'frozen' })).toThrow();
    const bad = interveneParams.parse({ ...base, set: ['0:1:2'] });
    await expect(runIntervene(bad, ctx())).rejects.toThrow(PermanentJobError);
    await expect(runIntervene(bad, ctx())).rejects.toThrow(/LAYER:POS:FEATURE=VALUE/);
  });
});
