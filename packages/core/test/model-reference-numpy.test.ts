import { execFileSync, spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { referenceForward } from '../src/model/reference.ts';
import { removeFixtureDirs, writeRandomCheckpoint } from './fixtures/checkpoints.ts';

// A second oracle: the first python with NumPy among PATH's python3 (which may be a pyenv shim without it) and
// Debian's (`apt-get install python3-numpy`, as .ci/run does). Skipped only outside CI: CI must run it.
const python = ['python3', '/usr/bin/python3'].find(
  (exe) => spawnSync(exe, ['-c', 'import numpy'], { stdio: 'ignore' }).status === 0,
);
const script = join(import.meta.dirname, 'fixtures', 'hf_numpy_forward.py');

afterAll(removeFixtureDirs);

describe.skipIf(!python && !process.env.CI)(
  'reference forward agrees with an independent NumPy implementation of HF',
  () => {
    for (const arch of ['gpt2', 'llama', 'gemma2', 'qwen2', 'qwen3'] as const) {
      it(arch, async () => {
        if (!python) throw new Error('CI needs python3 with NumPy for this oracle (Debian: python3-numpy)');
        const ck = await writeRandomCheckpoint(arch, { seed: 21 });
        const tokens = [1, 5, 9, 17, 4, 30, 11, 2, 40];
        const out = join(ck.dir, 'numpy-logits.json');
        execFileSync(python, [script, ck.dir, tokens.join(','), out]);
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
  },
);
