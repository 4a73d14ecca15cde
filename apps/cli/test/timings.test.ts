import { join } from 'node:path';
import { removeFixtureDirs, writeAttributeFixture } from '@loupe/core/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { parseTimings, phaseClock } from '../src/timings.ts';
import { loupe } from './helpers.ts';

afterAll(removeFixtureDirs);

describe('phaseClock', () => {
  it('lays phases end to end from the origin, accumulating a phase lapped again', () => {
    const times = [40, 100, 130, 190];
    const clock = phaseClock(() => times.shift() as number);
    for (const name of ['startup', 'load', 'rows', 'load']) clock.lap(name);
    expect(clock.line()).toBe('timings (ms since process start): startup 40, load 120, rows 30; total 190');
    expect(parseTimings(`progress\n${clock.line()}\nmore`)).toEqual({
      ms: { startup: 40, load: 120, rows: 30 },
      total: 190,
    });
  });

  it('finds no timings in text without the line', () => {
    expect(parseTimings('attribute: 100% (1000/1000) 1.2s done')).toBeUndefined();
  });
});

describe('loupe attribute --timings', () => {
  it('prints every phase of the run once, adding up to the total', async () => {
    const f = await writeAttributeFixture(3);
    const args = ['attribute', '--model', f.model, '--transcoders', f.transcoders, '--tokens', '5,9,3,12,7'];
    const c = await loupe([...args, '--out', join(f.model, 'graph.json'), '--timings']);
    expect(c.code).toBe(0);
    const t = parseTimings(c.err);
    expect(t).toBeDefined();
    const phases = Object.keys(t?.ms ?? {});
    expect(phases).toEqual([
      'startup',
      'load',
      'forward',
      'compile',
      'logitRows',
      'featureRows',
      'assemble',
      'graphJson',
      'jsonWrite',
      'report',
    ]);
    const values = Object.values(t?.ms ?? {});
    expect(values.every((v) => v >= 0)).toBe(true);
    // Each phase is rounded on its own, so the sum may differ from the total by up to half a ms per phase.
    const sum = values.reduce((a, b) => a + b, 0);
    expect(Math.abs(sum - (t?.total ?? 0))).toBeLessThanOrEqual(phases.length / 2 + 1);

    const quiet = await loupe([...args, '--out', join(f.model, 'quiet.json')]);
    expect(parseTimings(quiet.err)).toBeUndefined();
  });
});
