import { execFileSync, spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { referenceForward } from '../src/model/reference.ts';
import { removeFixtureDirs, writeRandomCheckpoint } from './fixtures/checkpoints.ts';

// Optional second oracle: runs only where python3 with NumPy is installed (the CI image may lack it).
const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0;
const script = join(import.meta.dirname, 'fixtures', 'hf_numpy_forward.py');

afterAll(removeFixtureDirs);

describe.skipIf(!hasNumpy)('reference forward agrees with an independent NumPy implementation of HF', () => {
  for (const arch of ['gpt2', 'llama', 'gemma2', 'qwen2', 'qwen3'] as const) {
    it(arch, async () => {
      const ck = await writeRandomCheckpoint(arch, { seed: 21 });
      const tokens = [1, 5, 9, 17, 4, 30, 11, 2, 40];
      const out = join(ck.dir, 'numpy-logits.json');
      execFileSync('python3', [script, ck.dir, tokens.join(','), out]);
      const np: number[][] = JSON.parse(await readFile(out, 'utf8'));
      const ref = referenceForward(ck.config, ck.weights, tokens).logits;
      expect(np.length).toBe(tokens.length);
      let m = 0;
      np.flat().forEach((v, i) => {
        m = Math.max(m, Math.abs(v - ref.data[i]));
      });
      expect(m).toBeLessThan(1e-5);
    });
  }
});
