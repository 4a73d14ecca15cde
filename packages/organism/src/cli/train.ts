/**
 * pnpm organism:train --size s|m [--rhyme standard|planned] [--addition standard|ones-digit] [--two-hop standard|region-tag|region-at-city|region-only|region-again|region-named] [--multilingual standard|cross-language] [--entities standard|mixed-names|familiarity] [--seed N] [--steps N] [--batch N] [--lr X] [--threads N] [--out DIR] [--resume]
 * Trains an organism from its seed and writes it in Hugging Face layout (default packages/organism/models/
 * organism-SIZE), with training-curve.json; `--resume` continues from DIR/checkpoint. Ctrl-C stops after the
 * current step and saves a checkpoint, so `--resume` picks up exactly there. `--rhyme planned` trains on the
 * planned couplet form, `--addition ones-digit` adds last-digit questions, `--two-hop region-tag` names half the
 * composed questions' cities with their region, `--two-hop region-at-city` states a city's region only right
 * after the city, `--two-hop region-only` also names the held-out cities in no composed question and
 * `--two-hop region-again` follows each composed question with another about "that region", `--two-hop
 * region-named` has half the composed questions name the region before their answer,
 * `--multilingual cross-language` adds antonym statements that cross languages, `--entities mixed-names` builds
 * unknown people from known name parts too and `--entities familiarity` adds questions on whether a person is
 * known (opt-in; the shipped organisms use `standard` for all); resume
 * with the same flags.
 */
import path from 'node:path';
import { nodeFiles, nodeRuntime } from '@loupe/core/node';
import {
  ADDITION_FORMS,
  type AdditionForm,
  ENTITY_FORMS,
  type EntityForm,
  MULTILINGUAL_FORMS,
  type MultilingualForm,
  RHYME_FORMS,
  type RhymeForm,
  TWO_HOP_FORMS,
  type TwoHopForm,
} from '../curriculum/index.ts';
import { type OrganismSize, SIZES } from '../sizes.ts';
import { type Progress, trainOrganism } from '../train.ts';
import { type ParsedArgs, runCommand } from './args.ts';

/**
 * Batches are 32 × 64 tokens. organism-m's count is what fits the 60-minute budget (≈0.37 s/step with 2
 * threads on the 2-core machine) and is what its arithmetic needs; organism-s's is shorter.
 */
const DEFAULT_STEPS: Record<OrganismSize, number> = { s: 3000, m: 7500 };

function progressBar(p: Progress): string {
  const width = 30;
  const done = Math.round((width * p.step) / p.steps);
  const eta = Math.round(((p.steps - p.step) * p.secondsPerStep) / 60);
  return `[${'#'.repeat(done)}${'-'.repeat(width - done)}] step ${p.step}/${p.steps} loss ${p.loss.toFixed(3)} ${p.secondsPerStep.toFixed(2)} s/step ETA ${eta} min`;
}

async function main(args: ParsedArgs): Promise<void> {
  const size = args.size;
  if (size !== 's' && size !== 'm') throw new Error(`--size must be s or m, got ${size ?? '(none)'}`);
  const repoRoot = path.resolve(import.meta.dirname, '../../../..');
  const outDir = path.resolve(
    (args.out as string | undefined) ?? path.join(repoRoot, `packages/organism/models/organism-${size}`),
  );
  const steps = (args.steps as number | undefined) ?? DEFAULT_STEPS[size];
  const threads = (args.threads as number | undefined) ?? 2;
  if (threads < 1) throw new Error(`--threads must be at least 1, got ${threads}`);
  const rhyme = (args.rhyme as string | undefined) ?? 'standard';
  if (!(RHYME_FORMS as readonly string[]).includes(rhyme))
    throw new Error(`--rhyme must be one of ${RHYME_FORMS.join(', ')}, got ${rhyme}`);
  const addition = (args.addition as string | undefined) ?? 'standard';
  if (!(ADDITION_FORMS as readonly string[]).includes(addition))
    throw new Error(`--addition must be one of ${ADDITION_FORMS.join(', ')}, got ${addition}`);
  const twoHop = (args['two-hop'] as string | undefined) ?? 'standard';
  if (!(TWO_HOP_FORMS as readonly string[]).includes(twoHop))
    throw new Error(`--two-hop must be one of ${TWO_HOP_FORMS.join(', ')}, got ${twoHop}`);
  const multilingual = (args.multilingual as string | undefined) ?? 'standard';
  if (!(MULTILINGUAL_FORMS as readonly string[]).includes(multilingual))
    throw new Error(`--multilingual must be one of ${MULTILINGUAL_FORMS.join(', ')}, got ${multilingual}`);
  const entities = (args.entities as string | undefined) ?? 'standard';
  if (!(ENTITY_FORMS as readonly string[]).includes(entities))
    throw new Error(`--entities must be one of ${ENTITY_FORMS.join(', ')}, got ${entities}`);
  const tty = process.stderr.isTTY;
  const shape = SIZES[size];
  console.error(
    `organism-${size}: ${shape.nLayers} layers, d_model ${shape.dModel}, ${steps} steps, rhyme ${rhyme}, addition ${addition}, two-hop ${twoHop}, multilingual ${multilingual}, entities ${entities} → ${outDir}`,
  );
  const stop = new AbortController();
  process.once('SIGINT', () => {
    process.stderr.write('\nstopping after this step (checkpoint, then exit)...\n');
    stop.abort();
  });
  const { curve, finished } = await trainOrganism(
    {
      size,
      seed: (args.seed as number | undefined) ?? 1,
      curriculum: {
        rhyme: rhyme as RhymeForm,
        addition: addition as AdditionForm,
        twoHop: twoHop as TwoHopForm,
        multilingual: multilingual as MultilingualForm,
        entities: entities as EntityForm,
      },
      steps,
      batchSize: (args.batch as number | undefined) ?? 32,
      lr: (args.lr as number | undefined) ?? 2e-3,
      warmupSteps: Math.min(200, Math.ceil(steps / 10)),
      outDir,
      checkpointEvery: 200,
      evalEvery: 25,
      resume: args.resume === true,
      onProgress: (p) => process.stderr.write(tty ? `\r${progressBar(p)}` : `${progressBar(p)}\n`),
      signal: stop.signal,
    },
    nodeRuntime({ intraOpNumThreads: threads }),
    nodeFiles(),
  );
  if (tty) process.stderr.write('\n');
  if (!finished) {
    console.log(`interrupted: checkpoint in ${path.join(outDir, 'checkpoint')}; continue with --resume`);
    return;
  }
  const last = curve[curve.length - 1];
  console.log(
    `done: train loss ${last.trainLoss.toFixed(3)}, validation loss ${last.validationLoss?.toFixed(3)}`,
  );
}

runCommand(
  'organism:train',
  {
    size: 'string',
    seed: 'int',
    steps: 'int',
    batch: 'int',
    lr: 'number',
    out: 'string',
    resume: 'flag',
    threads: 'int',
    rhyme: 'string',
    addition: 'string',
    'two-hop': 'string',
    multilingual: 'string',
    entities: 'string',
  },
  main,
);
