import { describe, expect, it } from 'vitest';
import { nodeRuntime } from '../src/node/runtime.ts';
import { f32 } from '../src/tensor/host.ts';
import { TrainingSession, type TrainingSpec } from '../src/train/training.ts';

const rt = nodeRuntime();

// loss = Σ_j (x·W − y)_j² with W [2, 2]: small enough to step many times in a few milliseconds.
const spec = (): TrainingSpec => ({
  params: { W: f32([2, 2], [0.1, -0.2, 0.3, 0.4]) },
  inputs: { x: { dtype: 'float32', shape: [1, 2] }, y: { dtype: 'float32', shape: [1, 2] } },
  loss: (g, p, d) => {
    const r = g.sub(g.matmul(d.x, p.W), d.y);
    return g.reduceSum(g.mul(r, r), [0, 1], false);
  },
});
const batch = (i: number) => ({ x: f32([1, 2], [1, i % 3]), y: f32([1, 2], [i % 2, -1]) });
const opt = { lr: 0.05, beta2: 0.98, weightDecay: 0.1 };

describe('TrainingSession optimizer state', () => {
  it('restoring parameters and AdamW state continues exactly like an uninterrupted session', async () => {
    const straight = await TrainingSession.create(rt, spec(), opt);
    for (let i = 0; i < 6; i++) await straight.step(batch(i));

    const first = await TrainingSession.create(rt, spec(), opt);
    for (let i = 0; i < 3; i++) await first.step(batch(i));
    const second = await TrainingSession.create(rt, spec(), opt);
    second.setParameters(first.getParameters());
    second.setOptimizerState(first.getOptimizerState());
    expect(second.stepCount).toBe(3);
    for (let i = 3; i < 6; i++) await second.step(batch(i));

    expect([...second.getParameters().W.data]).toEqual([...straight.getParameters().W.data]);
    const a = straight.getOptimizerState();
    const b = second.getOptimizerState();
    expect(b.step).toBe(6);
    expect([...b.m.W.data]).toEqual([...a.m.W.data]);
    expect([...b.v.W.data]).toEqual([...a.v.W.data]);

    // Without the moments (only the weights), the next steps differ: the state is what makes it exact.
    const weightsOnly = await TrainingSession.create(rt, spec(), opt);
    weightsOnly.setParameters(first.getParameters());
    for (let i = 3; i < 6; i++) await weightsOnly.step(batch(i));
    expect([...weightsOnly.getParameters().W.data]).not.toEqual([...straight.getParameters().W.data]);
  });

  it('rejects a state that does not fit the parameters', async () => {
    const s = await TrainingSession.create(rt, spec(), opt);
    const ok = s.getOptimizerState();
    expect(() => s.setOptimizerState({ ...ok, step: -1 })).toThrow(/step must be a non-negative integer/);
    expect(() => s.setOptimizerState({ ...ok, m: {} })).toThrow(/no m for parameter 'W'/);
    expect(() => s.setOptimizerState({ ...ok, v: { W: f32([4]) } })).toThrow(
      /v of 'W' is float32 \[4\], not float32 \[2, 2\]/,
    );
    expect(() => s.setOptimizerState({ ...ok, m: { ...ok.m, U: f32([1]) } })).toThrow(
      /unknown parameter 'U'/,
    );
  });
});
