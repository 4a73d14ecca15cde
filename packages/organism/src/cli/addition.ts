/**
 * `pnpm exec tsx packages/organism/src/cli/addition.ts [--model NAME|DIR] [--seed N]`: where a model's
 * single-token addition goes wrong. Scores every prompt `a+b=` of the 100 × 100 grid, split into pairs seen
 * in training and held-out ones, and prints how far the wrong answers are from the sum.
 */
import { loadCheckpoint, Model } from '@loupe/core';
import { nodeFiles, nodeRuntime } from '@loupe/core/node';
import { additionKey, makeSplits } from '../curriculum/index.ts';
import { greedyGenerate } from '../generate.ts';
import { resolveModelDir } from '../shipped.ts';
import { tokenizerFor } from '../train.ts';
import { type ParsedArgs, runCommand } from './args.ts';

async function main(args: ParsedArgs): Promise<void> {
  const seed = (args.seed as number | undefined) ?? 1;
  const dir = resolveModelDir((args.model as string | undefined) ?? 'organism-m');
  const ckpt = await loadCheckpoint(dir, nodeFiles());
  const model = await Model.create(ckpt.config, ckpt.weights, ckpt.tokenizer, nodeRuntime());
  const { tok } = tokenizerFor(seed);
  const generate = greedyGenerate(model, [tok.eosId]);
  const heldOut = makeSplits(seed).heldOutAdditionPairs;
  const tally = { seen: { n: 0, correct: 0 }, unseen: { n: 0, correct: 0 } };
  const offBy = new Map<string, number>();
  for (let a = 0; a < 100; a++) {
    for (let b = 0; b < 100; b++) {
      const [next] = await generate(tok.encode(`${a}+${b}=`), 1);
      const answer = Number(tok.vocab[next]);
      const t = heldOut.has(additionKey(a, b)) ? tally.unseen : tally.seen;
      t.n += 1;
      if (answer === a + b) t.correct += 1;
      else {
        const key = Number.isInteger(answer)
          ? `${answer - (a + b) > 0 ? '+' : ''}${answer - (a + b)}`
          : 'not a number';
        offBy.set(key, (offBy.get(key) ?? 0) + 1);
      }
    }
  }
  const pct = (t: { n: number; correct: number }) => `${((100 * t.correct) / t.n).toFixed(1)}% of ${t.n}`;
  console.log(`${dir}: seen pairs ${pct(tally.seen)}, held-out pairs ${pct(tally.unseen)}`);
  const errors = [...offBy.entries()].sort((x, y) => y[1] - x[1]);
  console.log(
    `wrong answers by (answer − sum): ${errors.map(([k, n]) => `${k}: ${n}`).join(', ') || 'none'}`,
  );
}

runCommand('organism addition', { model: 'string', seed: 'int' }, main);
