import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { committedFiles } from '../k8s/generate.ts';
import {
  buildManifests,
  cpuWorkerMemoryRequestMiB,
  defaultOptions,
  jobKinds,
  type LoupeOptions,
  measuredPeakRssMiB,
  names,
  queueQuery,
  secrets,
} from '../k8s/loupe.ts';
import { manifestProblems, parseDocs, referenceProblems, schemaProblems } from '../k8s/validate.ts';

const root = path.resolve(import.meta.dirname, '../..');
const generated = path.join(root, 'infra/k8s/generated');
const read = (name: string) => readFileSync(path.join(generated, name), 'utf8');
const secretsText = () => read('secrets.example.yaml');

// biome-ignore lint/suspicious/noExplicitAny: manifests read back from YAML
type Json = any;
const docs = (name: string): Json[] => parseDocs(read(name), []);
const find = (objects: Json[], kind: string, name: string) =>
  objects.find((o) => o.kind === kind && o.metadata.name === name);
const env = (deployment: Json) =>
  Object.fromEntries(
    deployment.spec.template.spec.containers[0].env.map((e: Json) => [e.name, e.value ?? e.valueFrom]),
  );

describe('committed manifests', () => {
  it('are what generate.ts writes now (regenerate with `pnpm exec tsx infra/k8s/generate.ts`)', () => {
    const files = committedFiles();
    expect(readdirSync(generated).sort()).toEqual(Object.keys(files).sort());
    for (const [name, text] of Object.entries(files)) expect(read(name), name).toBe(text);
  });

  it.each(['loupe.yaml', 'loupe-gpu.yaml'])(
    '%s validates against the Kubernetes and KEDA schemas',
    (name) => {
      expect(manifestProblems(read(name), secretsText())).toEqual([]);
      const kinds = docs(name).map((o) => o.kind);
      for (const k of ['Namespace', 'StatefulSet', 'Deployment', 'Service', 'Ingress', 'ScaledObject'])
        expect(kinds).toContain(k);
    },
  );

  it('every generator option gives valid, self-consistent manifests', () => {
    for (const variant of ['cpu', 'gpu'] as const) {
      for (const postgres of ['statefulset', 'managed'] as const) {
        for (const autoscaler of ['keda', 'hpa'] as const) {
          const o: LoupeOptions = { ...defaultOptions(variant), postgres, autoscaler };
          const objects = buildManifests(o).map((m) => m.toJSON());
          const s = secrets(o).map((m) => m.toJSON());
          const label = `${variant}/${postgres}/${autoscaler}`;
          expect(schemaProblems([...objects, ...s]), label).toEqual([]);
          expect(referenceProblems(objects, s), label).toEqual([]);
          expect(
            objects.some((x) => x.kind === 'StatefulSet'),
            label,
          ).toBe(postgres === 'statefulset');
          expect(
            objects.some((x) => x.kind === 'ScaledObject'),
            label,
          ).toBe(autoscaler === 'keda');
          expect(
            objects.some((x) => x.kind === 'HorizontalPodAutoscaler'),
            label,
          ).toBe(autoscaler === 'hpa');
        }
      }
    }
  });
});

describe('the validator fails on broken copies', () => {
  const broken = (edit: (objects: Json[], secrets: Json[]) => void) => {
    const objects = docs('loupe.yaml');
    const s = parseDocs(secretsText(), []);
    edit(objects, s);
    return [...schemaProblems([...objects, ...s]), ...referenceProblems(objects, s)];
  };
  const web = (objects: Json[]) => find(objects, 'Deployment', names.web);

  it('a wrongly typed field (schema)', () => {
    const p = broken((o) => {
      web(o).spec.replicas = 'two';
    });
    expect(p).toEqual([expect.stringContaining('Deployment/loupe-web: data/spec/replicas must be integer')]);
  });

  it('a container without a name, a ScaledObject without a target (schema)', () => {
    const p = broken((o) => {
      delete web(o).spec.template.spec.containers[0].name;
      delete find(o, 'ScaledObject', 'loupe-worker-cpu').spec.scaleTargetRef;
    });
    expect(p.join('\n')).toMatch(/containers\/0 must have required property name/);
    expect(p.join('\n')).toMatch(/ScaledObject\/loupe-worker-cpu: .*scaleTargetRef/);
  });

  it('an unknown kind or a YAML syntax error', () => {
    expect(manifestProblems('apiVersion: v1\nkind: Pdo\nmetadata: {name: x}\n', '')).toContain(
      'Pdo/x: no schema for apiVersion v1 kind Pdo',
    );
    expect(manifestProblems(`${read('loupe.yaml')}\n  bad: [indent\n`, secretsText())[0]).toMatch(/^YAML: /);
  });

  it('references: a missing Secret key, a Service port, a scale target, a foreign namespace, a volume', () => {
    const p = broken((o, s) => {
      delete s.find((x) => x.metadata.name === names.workerSecret).stringData.LOUPE_API_TOKEN;
      find(o, 'Service', names.web).spec.ports[0].targetPort = 'https';
      find(o, 'ScaledObject', 'loupe-worker-cpu').spec.scaleTargetRef.name = 'loupe-worker';
      web(o).metadata.namespace = 'default';
      web(o).spec.template.spec.volumes.pop();
      const cpu = find(o, 'Deployment', 'loupe-worker-cpu').spec.template.spec;
      cpu.volumes.find((v: Json) => v.name === 'data').persistentVolumeClaim.claimName = 'loupe-models';
    });
    expect(p).toEqual(
      expect.arrayContaining([
        expect.stringContaining('Secret loupe-worker has no key LOUPE_API_TOKEN'),
        'Service/loupe-web: targetPort https is not a port of the pods it selects',
        'ScaledObject/loupe-worker-cpu: scale target Deployment loupe-worker is not here',
        'Deployment/loupe-web: namespace default is not one this file creates',
        'Deployment/loupe-web: mount route-cache names no volume of the pod',
        'Deployment/loupe-worker-cpu: volume data claims loupe-models, which is not here',
      ]),
    );
  });
});

describe('what the manifests promise', () => {
  it('web: probes on the health procedure, the database URL from its Secret', () => {
    const w = find(docs('loupe.yaml'), 'Deployment', names.web);
    const c = w.spec.template.spec.containers[0];
    for (const probe of [c.startupProbe, c.readinessProbe, c.livenessProbe])
      expect(probe.httpGet.path).toBe('/api/trpc/system.health');
    expect(env(w).DATABASE_URL).toEqual({
      secretKeyRef: { name: names.databaseSecret, key: 'DATABASE_URL' },
    });
    expect(w.spec.replicas).toBe(1);
  });

  it('the health path is the system router health procedure the web app serves', () => {
    const system = readFileSync(path.join(root, 'packages/api/src/router/system.ts'), 'utf8');
    expect(system).toMatch(/health: publicProcedure\.query/);
    const rootRouter = readFileSync(path.join(root, 'packages/api/src/root.ts'), 'utf8');
    expect(rootRouter).toMatch(/system: systemRouter/);
  });

  it('job kinds are exactly those the worker registers', async () => {
    const { builtinHandlers } = await import('../../apps/worker/src/handlers/index.ts');
    expect(builtinHandlers.map((h) => h.kind).sort()).toEqual([...jobKinds].sort());
  });

  it('every LOUPE_ setting the workers get is one the worker reads', () => {
    const config = readFileSync(path.join(root, 'apps/worker/src/config.ts'), 'utf8');
    const read = new Set([...config.matchAll(/^ {2}(LOUPE_[A-Z_]+):/gm)].map((m) => m[1]));
    for (const d of docs('loupe-gpu.yaml').filter((o) => o.metadata.name.startsWith('loupe-worker-'))) {
      if (d.kind !== 'Deployment') continue;
      for (const name of Object.keys(env(d)).filter((n) => n.startsWith('LOUPE_')))
        expect(read).toContain(name);
    }
  });

  it('CPU only: one pool takes every kind and scales on the whole queue', () => {
    const objects = docs('loupe.yaml');
    const cpu = find(objects, 'Deployment', 'loupe-worker-cpu');
    expect(env(cpu).LOUPE_JOB_KINDS.split(',').sort()).toEqual([...jobKinds].sort());
    const so = find(objects, 'ScaledObject', 'loupe-worker-cpu');
    expect(so.spec.triggers).toHaveLength(1);
    expect(so.spec.triggers[0].type).toBe('postgresql');
    expect(so.spec.triggers[0].metadata.query).toBe(
      `SELECT count(*) FROM "Job" WHERE status IN ('queued', 'running')`,
    );
    expect(JSON.stringify(cpu)).not.toMatch(/nvidia|LOUPE_EXECUTION_PROVIDERS/);
  });

  it('CPU and GPU: disjoint kinds covering all of them; the GPU pool asks for a GPU node and CUDA', () => {
    const objects = docs('loupe-gpu.yaml');
    const cpu = find(objects, 'Deployment', 'loupe-worker-cpu');
    const gpu = find(objects, 'Deployment', 'loupe-worker-gpu');
    const cpuKinds = env(cpu).LOUPE_JOB_KINDS.split(',');
    const gpuKinds = env(gpu).LOUPE_JOB_KINDS.split(',');
    expect(cpuKinds.filter((k: string) => gpuKinds.includes(k))).toEqual([]);
    expect([...cpuKinds, ...gpuKinds].sort()).toEqual([...jobKinds].sort());
    const spec = gpu.spec.template.spec;
    expect(env(gpu).LOUPE_EXECUTION_PROVIDERS).toBe('cuda,cpu');
    expect(spec.containers[0].resources.limits['nvidia.com/gpu']).toBe('1');
    expect(spec.nodeSelector).toEqual({ 'nvidia.com/gpu.present': 'true' });
    expect(spec.tolerations).toContainEqual({
      key: 'nvidia.com/gpu',
      operator: 'Exists',
      effect: 'NoSchedule',
    });
    expect(find(objects, 'ScaledObject', 'loupe-worker-gpu').spec.minReplicaCount).toBe(0);
    expect(JSON.stringify(cpu)).not.toMatch(/nvidia|LOUPE_EXECUTION_PROVIDERS/);
  });

  it('the web app and every worker pool mount the one shared data volume at the same LOUPE_DATA_DIR', () => {
    const objects = docs('loupe-gpu.yaml');
    const pvc = find(objects, 'PersistentVolumeClaim', names.sharedData);
    expect(pvc.spec.accessModes).toEqual(['ReadWriteMany']);
    const dirs = [names.web, 'loupe-worker-cpu', 'loupe-worker-gpu'].map((name) => {
      const d = find(objects, 'Deployment', name);
      const spec = d.spec.template.spec;
      const volume = spec.volumes.find((v: Json) => v.persistentVolumeClaim?.claimName === names.sharedData);
      const mount = spec.containers[0].volumeMounts.find((m: Json) => m.name === volume.name);
      expect(mount.mountPath, name).toBe(env(d).LOUPE_DATA_DIR);
      return mount.mountPath;
    });
    expect(new Set(dirs).size).toBe(1);
  });

  it('a scaled-in worker gets its shutdown grace before Kubernetes kills it', () => {
    for (const d of docs('loupe-gpu.yaml').filter(
      (o) => o.kind === 'Deployment' && o.metadata.name !== 'loupe-web',
    )) {
      const graceMs = Number(env(d).LOUPE_SHUTDOWN_GRACE_MS);
      expect(d.spec.template.spec.terminationGracePeriodSeconds * 1000).toBeGreaterThan(graceMs);
    }
  });

  it('the CPU pool requests more memory than any measured attribution peak', () => {
    const objects = docs('loupe.yaml');
    const requested = find(objects, 'Deployment', 'loupe-worker-cpu').spec.template.spec.containers[0]
      .resources.requests.memory;
    const peaks = [...Object.values(measuredPeakRssMiB.plt), ...Object.values(measuredPeakRssMiB.clt)];
    expect(requested).toBe(`${cpuWorkerMemoryRequestMiB()}Mi`);
    expect(cpuWorkerMemoryRequestMiB()).toBeGreaterThan(Math.max(...peaks));
  });
});

interface QueueDb {
  /** A multi-statement script (simple protocol). */
  exec(sql: string): Promise<unknown>;
  query(sql: string, params?: unknown[]): Promise<{ rows: Json[] }>;
  close(): Promise<void>;
}

const dbRequire = createRequire(path.join(root, 'packages/db/package.json'));
const fromDbPackage = async (name: string) => import(pathToFileURL(dbRequire.resolve(name)).href);

async function pglite(): Promise<QueueDb> {
  const { PGlite } = await fromDbPackage('@electric-sql/pglite');
  const db = new PGlite();
  return {
    exec: (sql) => db.exec(sql),
    query: (sql, params) => db.query(sql, params),
    close: () => db.close(),
  };
}

/** A throwaway database on the server TEST_DATABASE_URL names (CI starts PostgreSQL 15), dropped on close. */
async function postgres(adminUrl: string): Promise<QueueDb> {
  const pg = (await fromDbPackage('pg')).default;
  const name = `loupe_infra_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  return {
    exec: (sql) => client.query(sql),
    query: (sql, params) => client.query(sql, params),
    async close() {
      await client.end();
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.end();
    },
  };
}

const pgUrl = process.env.TEST_DATABASE_URL;
const databases: [string, () => Promise<QueueDb>, boolean][] = [
  ['PGlite', pglite, true],
  ['PostgreSQL', () => postgres(pgUrl ?? ''), pgUrl !== undefined],
];

describe.each(databases)('the queue-depth query on %s', (_, open, available) => {
  it.runIf(available)(
    'counts queued and running jobs of the pool, after the migrations the web app applies',
    async () => {
      const db = await open();
      try {
        const { applyMigrations, readMigrations } = await import('../../packages/db/src/migrate.ts');
        await applyMigrations(
          {
            exec: async (sql: string) => {
              await db.exec(sql);
            },
            query: async (sql: string, params: unknown[]) => (await db.query(sql, params)).rows,
          },
          readMigrations(path.join(root, 'packages/db/prisma/migrations')),
        );
        const jobs: [string, string][] = [
          ['attribute', 'queued'],
          ['attribute', 'running'],
          ['train-dictionary', 'queued'],
          ['diagnostics', 'queued'],
          ['intervene', 'succeeded'],
          ['attribute', 'failed'],
          ['index-features', 'cancelled'],
        ];
        for (const [kind, status] of jobs) {
          await db.query(
            `INSERT INTO "Job" (id, kind, params, status) VALUES (gen_random_uuid(), $1, '{}', $2)`,
            [kind, status],
          );
        }
        const count = async (q: string) => Number((await db.query(q)).rows[0].count);
        const [cpuOnly] = defaultOptions('cpu').pools;
        const [cpu, gpu] = defaultOptions('gpu').pools;
        expect(await count(queueQuery(cpuOnly))).toBe(4);
        expect(await count(queueQuery(cpu))).toBe(1);
        expect(await count(queueQuery(gpu))).toBe(3);
        await expect(count(queueQuery(cpu).replace('"Job"', '"Jobs"'))).rejects.toThrow(/does not exist/);
      } finally {
        await db.close();
      }
    },
  );
});

describe('applying', () => {
  it('the Namespace comes first, so one `kubectl apply -f` creates it before what lives in it', () => {
    for (const name of ['loupe.yaml', 'loupe-gpu.yaml']) expect(docs(name)[0].kind).toBe('Namespace');
  });

  it('secrets.example.yaml holds only placeholders', () => {
    for (const s of parseDocs(secretsText(), [])) {
      for (const v of Object.values(s.stringData) as string[]) expect(v).toMatch(/CHANGE-ME/);
    }
  });
});
