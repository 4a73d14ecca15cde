import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { featureJson, featureRecordBase64, recordBase64 } from './feature-fixtures.ts';
import { backendNames, type Caller, codeOf, Harness, teamWithRoles } from './harness.ts';

describe.each(backendNames)('feature index in the database (%s)', (kind) => {
  let h: Harness;
  let fx: Awaited<ReturnType<typeof teamWithRoles>>;
  let worker: Caller;
  let dictionaryId: string;
  let otherDictionaryId: string;

  const lease = async () => {
    const job = await fx.owner.caller.jobs.enqueue({
      teamId: fx.team.id,
      kind: 'index-features',
      params: { dictionaryId },
    });
    const claimed = await worker.jobs.claim({ workerId: 'w', kinds: ['index-features'], leaseMs: 60_000 });
    if (claimed?.id !== job.id) throw new Error('the test job was not claimed');
    return { jobId: job.id, leaseToken: claimed.leaseToken };
  };

  beforeAll(async () => {
    h = await Harness.open(kind);
    fx = await teamWithRoles(h);
    worker = await h.worker();
    dictionaryId = (await h.catalogPair(fx.team.id)).dictionary.id;
    otherDictionaryId = (await h.catalogPair(fx.otherTeam.id)).dictionary.id;
    const l = await lease();
    const densities = [0.2, 0.05, 0.5];
    const put0 = await worker.dictionaries.putFeatureIndex({
      ...l,
      dictionaryId,
      layer: 0,
      features: densities.map((d, f) => ({
        featureIndex: f,
        autoLabel: ['cat 100%', 'the_end', 'dog'][f],
        record: featureRecordBase64(0, f, d),
      })),
    });
    expect(put0.stored).toBe(3);
    await worker.dictionaries.putFeatureIndex({
      ...l,
      dictionaryId,
      layer: 1,
      features: [{ featureIndex: 7, autoLabel: 'rhyme', record: featureRecordBase64(1, 7, 0.3) }],
    });
  }, 120_000);
  afterAll(async () => h?.close());

  it('features.get returns the stored feature JSON, its auto label and the team label', async () => {
    const before = await fx.viewer.caller.features.get({
      teamId: fx.team.id,
      dictionaryId,
      layer: 0,
      featureIndex: 2,
    });
    expect(before.annotation).toBeNull();
    expect(before.autoLabel).toBe('dog');
    expect(before.feature).toEqual(featureJson(0, 2, 0.5));
    await fx.editor.caller.features.annotate({
      teamId: fx.team.id,
      dictionaryId,
      layer: 0,
      featureIndex: 2,
      label: 'canine',
      version: 0,
    });
    const after = await fx.viewer.caller.features.get({
      teamId: fx.team.id,
      dictionaryId,
      layer: 0,
      featureIndex: 2,
    });
    expect(after.annotation?.label).toBe('canine');
    expect(after.feature?.histogram).toEqual([3, 2, 1]);
    const unknown = await fx.viewer.caller.features.get({
      teamId: fx.team.id,
      dictionaryId,
      layer: 5,
      featureIndex: 0,
    });
    expect(unknown).toEqual({ annotation: null, autoLabel: null, feature: null });
  });

  it('features.search sorts by density, filters by layer and by auto or team label, and pages', async () => {
    const s = fx.viewer.caller.features;
    const byDensity = await s.search({ teamId: fx.team.id, dictionaryId, sort: 'density', order: 'desc' });
    expect(byDensity.items.map((r) => [r.layer, r.featureIndex])).toEqual([
      [0, 2],
      [1, 7],
      [0, 0],
      [0, 1],
    ]);
    expect(byDensity.items[0]).toMatchObject({
      density: 0.5,
      actMax: 3.5,
      label: 'canine',
      autoLabel: 'dog',
    });
    expect(byDensity.items[0].topLogits).toEqual(['cat', 'dog']);
    expect(byDensity.nextOffset).toBeNull();

    const layer0 = await s.search({ teamId: fx.team.id, dictionaryId, layer: 0 });
    expect(layer0.items.map((r) => r.featureIndex)).toEqual([0, 1, 2]);
    // 'CANINE' matches only the team label, 'rhy' only an auto label; case does not matter.
    expect(
      (await s.search({ teamId: fx.team.id, dictionaryId, text: 'CANINE' })).items.map((r) => r.featureIndex),
    ).toEqual([2]);
    expect(
      (await s.search({ teamId: fx.team.id, dictionaryId, text: 'rhy' })).items.map((r) => r.featureIndex),
    ).toEqual([7]);
    // LIKE wildcards in the text match themselves.
    expect(
      (await s.search({ teamId: fx.team.id, dictionaryId, text: '100%' })).items.map((r) => r.featureIndex),
    ).toEqual([0]);
    expect(
      (await s.search({ teamId: fx.team.id, dictionaryId, text: '_' })).items.map((r) => r.featureIndex),
    ).toEqual([1]);

    // Density bounds are inclusive; the oracle is the unfiltered list.
    const mid = byDensity.items[1].density;
    const within = (lo: number, hi: number) =>
      byDensity.items.filter((r) => r.density >= lo && r.density <= hi).map((r) => [r.layer, r.featureIndex]);
    const dense = await s.search({
      teamId: fx.team.id,
      dictionaryId,
      minDensity: mid,
      sort: 'density',
      order: 'desc',
    });
    expect(dense.items.map((r) => [r.layer, r.featureIndex])).toEqual(within(mid, 1));
    const sparse = await s.search({
      teamId: fx.team.id,
      dictionaryId,
      maxDensity: mid,
      sort: 'density',
      order: 'desc',
    });
    expect(sparse.items.map((r) => [r.layer, r.featureIndex])).toEqual(within(0, mid));
    expect(dense.items.length + sparse.items.length).toBe(byDensity.items.length + 1);
    await expect(
      s.search({ teamId: fx.team.id, dictionaryId, minDensity: 0.6, maxDensity: 0.5 }),
    ).rejects.toThrow(/minDensity must not exceed maxDensity/);

    const page1 = await s.search({ teamId: fx.team.id, dictionaryId, limit: 3 });
    expect(page1.nextOffset).toBe(3);
    const page2 = await s.search({
      teamId: fx.team.id,
      dictionaryId,
      limit: 3,
      offset: page1.nextOffset ?? 0,
    });
    expect(page2.items.map((r) => [r.layer, r.featureIndex])).toEqual([[1, 7]]);
    expect(page2.nextOffset).toBeNull();
  });

  it('a second upload of the same features replaces them', async () => {
    await worker.dictionaries.putFeatureIndex({
      ...(await lease()),
      dictionaryId,
      layer: 1,
      features: [{ featureIndex: 7, autoLabel: 'rhyme v2', record: featureRecordBase64(1, 7, 0.9) }],
    });
    const got = await fx.viewer.caller.features.get({
      teamId: fx.team.id,
      dictionaryId,
      layer: 1,
      featureIndex: 7,
    });
    expect(got.autoLabel).toBe('rhyme v2');
    expect(got.feature?.activation_frequency).toBe(0.9);
    expect(
      (await fx.viewer.caller.features.search({ teamId: fx.team.id, dictionaryId, layer: 1 })).items,
    ).toHaveLength(1);
  });

  it('refuses bad chunks with the field named, other teams, and lost leases', async () => {
    const l = await lease();
    const put = (
      features: { featureIndex: number; autoLabel?: string; record: string }[],
      dict = dictionaryId,
    ) => worker.dictionaries.putFeatureIndex({ ...l, dictionaryId: dict, layer: 3, features });
    const message = async (p: Promise<unknown>) => {
      try {
        await p;
        return 'OK';
      } catch (err) {
        return `${(err as { code?: string }).code}: ${(err as Error).message}`;
      }
    };
    // Valid base64, not a record: the length prefix runs past the bytes.
    expect(
      await message(put([{ featureIndex: 0, record: Buffer.from('garbage!').toString('base64') }])),
    ).toMatch(/^BAD_REQUEST: features\.0\.record: feature record: length/);
    const wrongFields = recordBase64({ ...featureJson(3, 0), histogram: 'x' } as unknown as ReturnType<
      typeof featureJson
    >);
    expect(await message(put([{ featureIndex: 0, record: wrongFields }]))).toMatch(
      /^BAD_REQUEST: features\.0\.record: .*histogram/,
    );
    expect(await message(put([{ featureIndex: 4, record: featureRecordBase64(3, 5) }]))).toMatch(
      /^BAD_REQUEST: features\.0\.record: holds feature id 41, not 32 \(layer 3, feature 4\)/,
    );
    expect(
      await message(
        put([
          { featureIndex: 1, record: featureRecordBase64(3, 1) },
          { featureIndex: 1, record: featureRecordBase64(3, 1) },
        ]),
      ),
    ).toMatch(/^BAD_REQUEST: features\.1\.featureIndex: 1 repeats/);
    // A key whose circuit-tracer id would not be a safe integer.
    expect(await message(put([{ featureIndex: 2 ** 31 - 1, record: featureRecordBase64(3, 0) }]))).toMatch(
      /^BAD_REQUEST: features\.0\.featureIndex: cantorPair/,
    );
    expect(await codeOf(put([{ featureIndex: 0, record: 'not base64!' }]))).toBe('BAD_REQUEST');
    expect(await codeOf(put([]))).toBe('BAD_REQUEST');
    const tooMany = Array.from({ length: 257 }, (_, f) => ({
      featureIndex: f,
      record: featureRecordBase64(3, f),
    }));
    expect(await codeOf(put(tooMany))).toBe('BAD_REQUEST');
    // Nothing of the refused chunks was stored.
    expect(
      (await fx.viewer.caller.features.search({ teamId: fx.team.id, dictionaryId, layer: 3 })).items,
    ).toEqual([]);

    // Only into the dictionary the leased job indexes: not another team's, not another of the same team.
    expect(
      await codeOf(put([{ featureIndex: 0, record: featureRecordBase64(3, 0) }], otherDictionaryId)),
    ).toBe('NOT_FOUND');
    const sibling = (await h.catalogPair(fx.team.id)).dictionary.id;
    expect(await codeOf(put([{ featureIndex: 0, record: featureRecordBase64(3, 0) }], sibling))).toBe(
      'NOT_FOUND',
    );
    await worker.jobs.complete({ ...l, result: {} });
    expect(await codeOf(put([{ featureIndex: 0, record: featureRecordBase64(3, 0) }]))).toBe('CONFLICT');
  });

  it('an instance dictionary shares its index with every team; each team keeps its own labels', async () => {
    const { dictionary } = await h.catalogPair(null, { key: 'shared-organism' });
    const job = await h.db.prisma.job.create({
      data: { teamId: null, kind: 'index-features', params: { dictionaryId: dictionary.id } },
    });
    const claimed = await worker.jobs.claim({ workerId: 'w', kinds: ['index-features'], leaseMs: 60_000 });
    expect(claimed?.id).toBe(job.id);
    await worker.dictionaries.putFeatureIndex({
      jobId: job.id,
      leaseToken: claimed?.leaseToken as string,
      dictionaryId: dictionary.id,
      layer: 0,
      features: [{ featureIndex: 4, autoLabel: 'shared', record: featureRecordBase64(0, 4) }],
    });
    const key = { dictionaryId: dictionary.id, layer: 0, featureIndex: 4 };
    await fx.editor.caller.features.annotate({ teamId: fx.team.id, ...key, label: 'ours', version: 0 });
    await fx.outsider.caller.features.annotate({
      teamId: fx.otherTeam.id,
      ...key,
      label: 'theirs',
      version: 0,
    });
    const ours = await fx.viewer.caller.features.get({ teamId: fx.team.id, ...key });
    const theirs = await fx.outsider.caller.features.get({ teamId: fx.otherTeam.id, ...key });
    expect([ours.autoLabel, ours.annotation?.label]).toEqual(['shared', 'ours']);
    expect([theirs.autoLabel, theirs.annotation?.label]).toEqual(['shared', 'theirs']);
    const found = await fx.viewer.caller.features.search({ teamId: fx.team.id, dictionaryId: dictionary.id });
    expect(found.items.map((r) => r.label)).toEqual(['ours']);
    // The instance job is readable by any signed-in user, but only the server manages it.
    expect((await fx.outsider.caller.jobs.get({ jobId: job.id })).teamId).toBeNull();
    expect(await codeOf(fx.owner.caller.jobs.cancel({ jobId: job.id }))).toBe('FORBIDDEN');
    // Another team's dictionary is not reachable through one's own team.
    expect(
      await codeOf(
        fx.outsider.caller.features.get({ teamId: fx.otherTeam.id, dictionaryId, layer: 0, featureIndex: 2 }),
      ),
    ).toBe('NOT_FOUND');
    expect(
      await codeOf(
        fx.outsider.caller.features.get({ teamId: fx.team.id, dictionaryId, layer: 0, featureIndex: 2 }),
      ),
    ).toBe('NOT_FOUND');
  });
});
