import { describe, expect, it } from 'vitest';
import { parseExecutionProviders, probeExecutionProviders } from '../src/node/index.ts';

describe('execution providers (LOUPE_EXECUTION_PROVIDERS)', () => {
  it('reads an ordered list and defaults to the CPU provider', () => {
    expect(parseExecutionProviders(undefined)).toEqual(['cpu']);
    expect(parseExecutionProviders(' ')).toEqual(['cpu']);
    expect(parseExecutionProviders('CUDA, cpu')).toEqual(['cuda', 'cpu']);
  });

  it('refuses unknown and repeated names instead of falling back to CPU', () => {
    expect(() => parseExecutionProviders('cuda,gpu')).toThrow(/unknown execution provider\(s\) gpu/);
    expect(() => parseExecutionProviders('cpu,cpu')).toThrow(/listed twice/);
  });

  it('probes the CPU provider by running a graph on it', async () => {
    await expect(probeExecutionProviders(['cpu'])).resolves.toBeUndefined();
  });

  it('names the provider that cannot load (the npm package ships no CUDA libraries)', async () => {
    await expect(probeExecutionProviders(['cuda'])).rejects.toThrow(
      /execution provider 'cuda' is not usable: /,
    );
  });
});
