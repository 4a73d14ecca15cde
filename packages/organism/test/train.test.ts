import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { f32, loadCheckpoint, Model, writeSafetensors } from '@loupe/core';
import { nodeFiles, nodeRuntime } from '@loupe/core/node';
import { afterAll, describe, expect, it } from 'vitest';
import { evalSets } from '../src/curriculum/index.ts';
import { evaluate } from '../src/eval/score.ts';
import { greedyGenerate } from '../src/generate.ts';
import {
  type CurvePoint,
  decodeOptimizerState,
  encodeOptimizerState,
  learningRate,
  type TrainOptions,
  tokenizerFor,
  trainOrganism,
} from '../src/train.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'organism-train-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const tiny = (outDir: string, steps: number, resume = false): TrainOptions => ({
  size: 's',
  seed: 4,
  steps,
  batchSize: 8,
  lr: 3e-3,
  warmupSteps: 3,
  outDir,
  checkpointEvery: 5,
  evalEvery: 5,
  resume,
  shape: { nLayers: 1, dModel: 32, nHeads: 2, dMlp: 64 },
});

describe('training a tiny organism', () => {
  const rt = nodeRuntime();
  const files = nodeFiles();

  it('lowers the validation loss and writes a checkpoint that loads like any other', async () => {
    const out = path.join(dir, 'a');
    const { curve } = await trainOrganism(tiny(out, 40), rt, files);
    expect(curve).toHaveLength(8);
    expect(curve[curve.length - 1].validationLoss!).toBeLessThan(curve[0].validationLoss! - 0.5);
    const written = JSON.parse(readFileSync(path.join(out, 'training-curve.json'), 'utf8'));
    expect(written).toEqual(curve);

    const ckpt = await loadCheckpoint(out, files);
    expect(ckpt.config.hfArchitecture).toBe('LlamaForCausalLM');
    const { tok } = tokenizerFor(4);
    expect(ckpt.tokenizer?.vocabSize).toBe(tok.vocab.length);
    const model = await Model.create(ckpt.config, ckpt.weights, ckpt.tokenizer, rt);
    const sets = evalSets(4);
    const small = {
      addition: sets.addition.slice(0, 2),
      antonym: sets.antonym.slice(0, 2),
      facts: [],
      rhyme: [],
      entity: [],
    };
    const { rows } = await evaluate(small, tok, greedyGenerate(model, [tok.eosId]));
    expect(rows.map((r) => r.n)).toEqual([2, 2]);
  });

  it('resumes bit-for-bit: N steps straight equal N/2, an interruption, and a resumed N/2', async () => {
    const straight = path.join(dir, 'b');
    const resumed = path.join(dir, 'c');
    const a = await trainOrganism(tiny(straight, 10), rt, files);
    const stop = new AbortController();
    const half = await trainOrganism(
      { ...tiny(resumed, 10), checkpointEvery: 100, signal: stop.signal, onProgress: () => stop.abort() },
      rt,
      files,
    );
    expect(half.finished).toBe(false);
    expect(half.curve.map((p) => p.step)).toEqual([5]);
    expect(existsSync(path.join(resumed, 'model.safetensors'))).toBe(false);
    const b = await trainOrganism(tiny(resumed, 10, true), rt, files);
    expect(b.finished).toBe(true);

    const losses = (c: CurvePoint[]) => c.map((p) => [p.step, p.trainLoss, p.validationLoss]);
    expect(losses(b.curve)).toEqual(losses(a.curve));
    const state = (d: string) =>
      JSON.parse(readFileSync(path.join(d, 'checkpoint', 'trainer-state.json'), 'utf8'));
    expect(state(resumed).docsConsumed).toBe(state(straight).docsConsumed);
    expect(state(resumed).step).toBe(10);
    const bytes = (d: string, f: string) => readFileSync(path.join(d, f));
    expect(bytes(resumed, 'model.safetensors').equals(bytes(straight, 'model.safetensors'))).toBe(true);
    expect(
      bytes(resumed, 'checkpoint/optimizer.safetensors').equals(
        bytes(straight, 'checkpoint/optimizer.safetensors'),
      ),
    ).toBe(true);
  });

  it('trains the same weights with 1 and 2 intra-op threads', async () => {
    const one = path.join(dir, 'threads-1');
    const two = path.join(dir, 'threads-2');
    const rt2 = nodeRuntime({ intraOpNumThreads: 2 });
    // Wide rows and a full batch, so that onnxruntime splits the embedding gradient across both threads.
    const wide = (out: string): TrainOptions => ({
      ...tiny(out, 4),
      batchSize: 32,
      shape: { nLayers: 1, dModel: 256, nHeads: 2, dMlp: 256 },
    });
    await trainOrganism(wide(one), rt, files);
    await trainOrganism(wide(two), rt2, files);
    await rt2.release();
    const bytes = (d: string) => readFileSync(path.join(d, 'model.safetensors'));
    expect(bytes(two).equals(bytes(one))).toBe(true);
  });

  it('refuses to resume another seed, or a checkpoint without its optimizer state', async () => {
    const d = path.join(dir, 'c');
    await expect(trainOrganism({ ...tiny(d, 20, true), seed: 5 }, rt, files)).rejects.toThrow(/seed 4/);
    rmSync(path.join(d, 'checkpoint', 'optimizer.safetensors'));
    await expect(trainOrganism(tiny(d, 20, true), rt, files)).rejects.toThrow(
      /optimizer\.safetensors is missing/,
    );
  });

  it('round-trips the optimizer state and rejects a corrupt one', async () => {
    const m = { 'layers.0.w': f32([2, 3], [1, 2, 3, 4, 5, 6]) };
    const v = { 'layers.0.w': f32([2, 3], [6, 5, 4, 3, 2, 1]) };
    const back = await decodeOptimizerState(encodeOptimizerState({ step: 7, m, v }), 'x');
    expect(back.step).toBe(7);
    expect([...back.m['layers.0.w'].data]).toEqual([1, 2, 3, 4, 5, 6]);
    expect([...back.v['layers.0.w'].data]).toEqual([6, 5, 4, 3, 2, 1]);
    const noStep = writeSafetensors(m);
    await expect(decodeOptimizerState(noStep, 'opt')).rejects.toThrow(/opt: no valid 'step'/);
    await expect(decodeOptimizerState(new Uint8Array(3), 'opt')).rejects.toThrow(/fewer than/);
  });

  it('warms up then decays the learning rate', () => {
    const o = { lr: 1, warmupSteps: 10, steps: 110 };
    expect(learningRate(0, o)).toBeCloseTo(0.1);
    expect(learningRate(9, o)).toBeCloseTo(1);
    expect(learningRate(60, o)).toBeCloseTo(0.55);
    expect(learningRate(110, o)).toBeCloseTo(0.1);
  });
});
