import { Namespace, PersistentVolumeClaim, Secret, Service } from 'kubernetes-models/v1';
import type { IContainer, IEnvVar, IPodSpec, IResourceRequirements } from 'kubernetes-models/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1';
import { ScaledObject, TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1';

/** Every object this generator emits: typed models that validate themselves against the Kubernetes schemas. */
export type Manifest =
  | Namespace
  | PersistentVolumeClaim
  | Secret
  | Service
  | Deployment
  | StatefulSet
  | Ingress
  | HorizontalPodAutoscaler
  | ScaledObject
  | TriggerAuthentication;

/** The job kinds apps/worker registers (apps/worker/src/handlers/index.ts); LOUPE_JOB_KINDS takes a subset. */
export const jobKinds = [
  'attribute',
  'diagnostics',
  'index-features',
  'intervene',
  'train-dictionary',
] as const;
export type JobKind = (typeof jobKinds)[number];

/**
 * Peak resident memory of one `loupe attribute` run on organism-m (6 layers, d_model 192, 2048 features per
 * layer), MiB, measured with `/usr/bin/time -v` on the CPU execution provider (infra/README.md, "Sizing").
 */
export const measuredPeakRssMiB = {
  runtimeOnly: 118,
  plt: { 5: 278, 19: 377, 40: 504 },
  clt: { 5: 300, 19: 435, 40: 641 },
} as const;

/** organism-m's max_position_embeddings: no prompt it can attribute is longer. */
const organismMaxTokens = 64;

/**
 * The CPU pool's memory request: the CLT peak (the larger dictionary) extrapolated linearly from the 19- and
 * 40-token runs to the longest prompt the organism takes, plus a quarter for the heap's slack, in 128 MiB steps.
 */
export function cpuWorkerMemoryRequestMiB(): number {
  const { clt } = measuredPeakRssMiB;
  const perToken = (clt[40] - clt[19]) / (40 - 19);
  const atMax = clt[40] + perToken * (organismMaxTokens - 40);
  return Math.ceil((atMax * 1.25) / 128) * 128;
}

export interface WorkerPool {
  /** `cpu` or `gpu`: names the Deployment `loupe-worker-<name>`. */
  name: string;
  kinds: readonly JobKind[];
  gpu: boolean;
  minReplicas: number;
  maxReplicas: number;
  resources: IResourceRequirements;
  /** How long a job may run on after SIGTERM when the pool scales in (LOUPE_SHUTDOWN_GRACE_MS). */
  shutdownGraceSeconds: number;
}

export interface LoupeOptions {
  namespace: string;
  host: string;
  ingressClassName: string;
  images: { web: string; worker: string; workerGpu: string; postgres: string };
  /** `statefulset` runs PostgreSQL in the cluster; `managed` expects DATABASE_URL to name an outside server. */
  postgres: 'statefulset' | 'managed';
  /** `keda` scales workers on the queue by SQL; `hpa` on an external metric that an adapter serves. */
  autoscaler: 'keda' | 'hpa';
  pools: readonly WorkerPool[];
}

const mi = (n: number) => `${n}Mi`;

/** A pool that runs every kind on CPUs: the organisms and small models. */
export function cpuPool(kinds: readonly JobKind[] = jobKinds): WorkerPool {
  const memory = cpuWorkerMemoryRequestMiB();
  return {
    name: 'cpu',
    kinds,
    gpu: false,
    minReplicas: 1,
    maxReplicas: 8,
    // onnxruntime runs one intra-op thread per job (no gain from two on these sizes), so one core a job.
    resources: { requests: { cpu: '1', memory: mi(memory) }, limits: { cpu: '2', memory: mi(memory * 2) } },
    shutdownGraceSeconds: 120,
  };
}

/** A pool for real checkpoints on one GPU each; scaled to zero while nothing waits. */
export function gpuPool(kinds: readonly JobKind[]): WorkerPool {
  return {
    name: 'gpu',
    kinds,
    gpu: true,
    minReplicas: 0,
    maxReplicas: 4,
    resources: {
      requests: { cpu: '2', memory: '16Gi', 'nvidia.com/gpu': '1' },
      limits: { cpu: '4', memory: '32Gi', 'nvidia.com/gpu': '1' },
    },
    // Dictionary training on a real model runs for minutes: give it the time to finish before the pod goes.
    shutdownGraceSeconds: 600,
  };
}

/** The two shapes the committed manifests take: CPU only, or CPU and GPU pools with disjoint kinds. */
export function defaultOptions(variant: 'cpu' | 'gpu'): LoupeOptions {
  const registry = 'registry.example.org/loupe';
  return {
    namespace: 'loupe',
    host: 'loupe.example.org',
    ingressClassName: 'nginx',
    images: {
      web: `${registry}/web:0.1.0`,
      worker: `${registry}/worker:0.1.0`,
      workerGpu: `${registry}/worker:0.1.0-gpu`,
      postgres: 'postgres:17-bookworm',
    },
    postgres: 'statefulset',
    autoscaler: 'keda',
    pools:
      variant === 'cpu'
        ? [cpuPool()]
        : [
            cpuPool(['diagnostics']),
            gpuPool(['attribute', 'index-features', 'intervene', 'train-dictionary']),
          ],
  };
}

export const names = {
  databaseSecret: 'loupe-database',
  workerSecret: 'loupe-worker',
  postgres: 'loupe-postgres',
  web: 'loupe-web',
  tls: 'loupe-tls',
  kedaAuth: 'loupe-queue',
  sharedData: 'loupe-data',
  worker: (pool: WorkerPool) => `loupe-worker-${pool.name}`,
};

const webPort = 3000;
/** LOUPE_DATA_DIR of the web app and the workers alike, on the shared volume. */
export const sharedDataPath = '/var/lib/loupe';
const healthPath = '/api/trpc/system.health';

const labels = (component: string) => ({
  'app.kubernetes.io/name': 'loupe',
  'app.kubernetes.io/component': component,
});

const fromSecret = (name: string, secret: string, key: string): IEnvVar => ({
  name,
  valueFrom: { secretKeyRef: { name: secret, key } },
});

// Node's image runs as `node` (uid 1000); the images in infra/docker keep it.
const restricted = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
};
const nonRootPod: IPodSpec['securityContext'] = {
  runAsNonRoot: true,
  runAsUser: 1000,
  runAsGroup: 1000,
  fsGroup: 1000,
  seccompProfile: { type: 'RuntimeDefault' },
};

/**
 * SQL the queue-depth scaler runs: the jobs of this pool's kinds that want a worker now. Running jobs count
 * too, so a pool never scales in below the jobs it is still running (one job per worker at concurrency 1).
 */
export function queueQuery(pool: WorkerPool): string {
  const base = `SELECT count(*) FROM "Job" WHERE status IN ('queued', 'running')`;
  const all = jobKinds.every((k) => pool.kinds.includes(k));
  return all ? base : `${base} AND kind IN (${pool.kinds.map((k) => `'${k}'`).join(', ')})`;
}

export function secrets(o: LoupeOptions): Secret[] {
  const dbUrl =
    o.postgres === 'statefulset'
      ? `postgresql://loupe:CHANGE-ME@${names.postgres}:5432/loupe?sslmode=disable`
      : 'postgresql://loupe:CHANGE-ME@db.example.org:5432/loupe?sslmode=require';
  return [
    new Secret({
      metadata: { name: names.databaseSecret, namespace: o.namespace, labels: labels('database') },
      type: 'Opaque',
      stringData: {
        DATABASE_URL: dbUrl,
        ...(o.postgres === 'statefulset' ? { POSTGRES_PASSWORD: 'CHANGE-ME' } : {}),
      },
    }),
    new Secret({
      metadata: { name: names.workerSecret, namespace: o.namespace, labels: labels('worker') },
      type: 'Opaque',
      stringData: { LOUPE_API_TOKEN: 'lpw_CHANGE-ME' },
    }),
  ];
}

function postgres(o: LoupeOptions): Manifest[] {
  const l = labels('postgres');
  const isReady: IContainer['readinessProbe'] = {
    exec: { command: ['pg_isready', '-U', 'loupe', '-d', 'loupe', '-h', '127.0.0.1'] },
    periodSeconds: 10,
    timeoutSeconds: 5,
  };
  return [
    new Service({
      metadata: { name: names.postgres, namespace: o.namespace, labels: l },
      spec: {
        clusterIP: 'None',
        selector: l,
        ports: [{ name: 'postgres', port: 5432, targetPort: 'postgres' }],
      },
    }),
    new StatefulSet({
      metadata: { name: names.postgres, namespace: o.namespace, labels: l },
      spec: {
        serviceName: names.postgres,
        replicas: 1,
        selector: { matchLabels: l },
        template: {
          metadata: { labels: l },
          spec: {
            // The official image runs the server as `postgres` (uid 999) and owns its data directory.
            securityContext: { runAsNonRoot: true, runAsUser: 999, runAsGroup: 999, fsGroup: 999 },
            terminationGracePeriodSeconds: 60,
            containers: [
              {
                name: 'postgres',
                image: o.images.postgres,
                ports: [{ name: 'postgres', containerPort: 5432 }],
                env: [
                  { name: 'POSTGRES_USER', value: 'loupe' },
                  { name: 'POSTGRES_DB', value: 'loupe' },
                  fromSecret('POSTGRES_PASSWORD', names.databaseSecret, 'POSTGRES_PASSWORD'),
                  // A subdirectory: a fresh volume's root holds lost+found, which initdb refuses.
                  { name: 'PGDATA', value: '/var/lib/postgresql/data/pgdata' },
                ],
                readinessProbe: isReady,
                livenessProbe: { ...isReady, periodSeconds: 30, failureThreshold: 6 },
                resources: { requests: { cpu: '250m', memory: '512Mi' }, limits: { memory: '2Gi' } },
                volumeMounts: [{ name: 'data', mountPath: '/var/lib/postgresql/data' }],
              },
            ],
          },
        },
        volumeClaimTemplates: [
          {
            metadata: { name: 'data' },
            spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '20Gi' } } },
          },
        ],
      },
    }),
  ];
}

function web(o: LoupeOptions): Manifest[] {
  const l = labels('web');
  const health = { httpGet: { path: healthPath, port: 'http' }, timeoutSeconds: 5 };
  return [
    new Deployment({
      metadata: { name: names.web, namespace: o.namespace, labels: l },
      spec: {
        // One process: change events reach subscribers through an in-process bus (packages/api/src/bus.ts).
        replicas: 1,
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
        selector: { matchLabels: l },
        template: {
          metadata: { labels: l },
          spec: {
            securityContext: nonRootPod,
            containers: [
              {
                name: 'web',
                image: o.images.web,
                ports: [{ name: 'http', containerPort: webPort }],
                env: [
                  fromSecret('DATABASE_URL', names.databaseSecret, 'DATABASE_URL'),
                  { name: 'LOUPE_DATA_DIR', value: sharedDataPath },
                  { name: 'NEXT_TELEMETRY_DISABLED', value: '1' },
                ],
                // The first request opens the database and applies pending migrations: allow five minutes.
                startupProbe: { ...health, periodSeconds: 5, failureThreshold: 60 },
                readinessProbe: { ...health, periodSeconds: 10, failureThreshold: 3 },
                livenessProbe: { ...health, periodSeconds: 20, failureThreshold: 3 },
                resources: { requests: { cpu: '250m', memory: '512Mi' }, limits: { memory: '1536Mi' } },
                securityContext: restricted,
                // The root filesystem is read-only: what next start and the app write goes to these.
                volumeMounts: [
                  { name: 'data', mountPath: sharedDataPath },
                  { name: 'tmp', mountPath: '/tmp' },
                  { name: 'next-cache', mountPath: '/app/apps/web/.next/cache' },
                  { name: 'route-cache', mountPath: '/app/apps/web/.next/server/route-cache' },
                ],
              },
            ],
            volumes: [
              { name: 'data', persistentVolumeClaim: { claimName: names.sharedData } },
              { name: 'tmp', emptyDir: {} },
              { name: 'next-cache', emptyDir: {} },
              { name: 'route-cache', emptyDir: {} },
            ],
          },
        },
      },
    }),
    new Service({
      metadata: { name: names.web, namespace: o.namespace, labels: l },
      spec: { selector: l, ports: [{ name: 'http', port: webPort, targetPort: 'http' }] },
    }),
    new Ingress({
      metadata: {
        name: names.web,
        namespace: o.namespace,
        labels: l,
        annotations: {
          // Graph JSON uploads reach 256 MB (apps/web/src/app/api/trpc/[trpc]/route.ts). Subscriptions are
          // server-sent events: held open for an hour, and passed on as they come rather than buffered.
          'nginx.ingress.kubernetes.io/proxy-body-size': '256m',
          'nginx.ingress.kubernetes.io/proxy-read-timeout': '3600',
          'nginx.ingress.kubernetes.io/proxy-buffering': 'off',
        },
      },
      spec: {
        ingressClassName: o.ingressClassName,
        tls: [{ hosts: [o.host], secretName: names.tls }],
        rules: [
          {
            host: o.host,
            http: {
              paths: [
                {
                  path: '/',
                  pathType: 'Prefix',
                  backend: { service: { name: names.web, port: { name: 'http' } } },
                },
              ],
            },
          },
        ],
      },
    }),
  ];
}

/**
 * One volume the web app and every worker mount at the same path: the server resolves a job's files (the
 * catalogue's checkpoints and dictionaries, uploaded corpora it writes there, output folders it picks under
 * its data dir) to paths on its own disk, and the worker that claims the job, on any replica, opens them.
 */
function sharedData(o: LoupeOptions): PersistentVolumeClaim {
  return new PersistentVolumeClaim({
    metadata: { name: names.sharedData, namespace: o.namespace, labels: labels('data') },
    spec: { accessModes: ['ReadWriteMany'], resources: { requests: { storage: '100Gi' } } },
  });
}

function worker(o: LoupeOptions, pool: WorkerPool): Deployment {
  const l = { ...labels('worker'), 'loupe.dev/pool': pool.name };
  const env: IEnvVar[] = [
    { name: 'LOUPE_URL', value: `http://${names.web}:${webPort}` },
    fromSecret('LOUPE_API_TOKEN', names.workerSecret, 'LOUPE_API_TOKEN'),
    { name: 'WORKER_ID', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'LOUPE_JOB_KINDS', value: pool.kinds.join(',') },
    { name: 'LOUPE_DATA_DIR', value: sharedDataPath },
    { name: 'LOUPE_SHUTDOWN_GRACE_MS', value: String(pool.shutdownGraceSeconds * 1000) },
    // onnxruntime tries the providers in order: CUDA takes what it supports, the CPU provider the rest.
    ...(pool.gpu ? [{ name: 'LOUPE_EXECUTION_PROVIDERS', value: 'cuda,cpu' }] : []),
  ];
  return new Deployment({
    metadata: { name: names.worker(pool), namespace: o.namespace, labels: l },
    spec: {
      // The autoscaler owns the replica count; this is where it starts.
      replicas: pool.minReplicas,
      selector: { matchLabels: l },
      template: {
        metadata: { labels: l },
        spec: {
          securityContext: nonRootPod,
          // SIGTERM stops claiming and lets the running job finish within the grace; then the pod is killed.
          terminationGracePeriodSeconds: pool.shutdownGraceSeconds + 30,
          ...(pool.gpu
            ? {
                nodeSelector: { 'nvidia.com/gpu.present': 'true' },
                tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
              }
            : {}),
          containers: [
            {
              name: 'worker',
              image: pool.gpu ? o.images.workerGpu : o.images.worker,
              env,
              resources: pool.resources,
              securityContext: restricted,
              volumeMounts: [
                // tsx caches its transpiled sources under the temporary directory.
                { name: 'tmp', mountPath: '/tmp' },
                { name: 'data', mountPath: sharedDataPath },
              ],
            },
          ],
          volumes: [
            { name: 'tmp', emptyDir: {} },
            { name: 'data', persistentVolumeClaim: { claimName: names.sharedData } },
          ],
        },
      },
    },
  });
}

function kedaScaling(o: LoupeOptions): Manifest[] {
  return [
    new TriggerAuthentication({
      metadata: { name: names.kedaAuth, namespace: o.namespace, labels: labels('worker') },
      spec: {
        secretTargetRef: [{ parameter: 'connection', name: names.databaseSecret, key: 'DATABASE_URL' }],
      },
    }),
    ...o.pools.map(
      (pool) =>
        new ScaledObject({
          metadata: { name: names.worker(pool), namespace: o.namespace, labels: labels('worker') },
          spec: {
            scaleTargetRef: { name: names.worker(pool) },
            minReplicaCount: pool.minReplicas,
            maxReplicaCount: pool.maxReplicas,
            pollingInterval: 15,
            cooldownPeriod: 300,
            triggers: [
              {
                type: 'postgresql',
                name: 'jobs',
                metadata: { query: queueQuery(pool), targetQueryValue: '1', activationTargetQueryValue: '0' },
                authenticationRef: { name: names.kedaAuth },
              },
            ],
          },
        }),
    ),
  ];
}

/** Metric names an adapter (prometheus-adapter over postgres_exporter) serves per pool for the HPA variant. */
export const externalMetric = (pool: WorkerPool) => `loupe_jobs_queued_${pool.name}`;

function hpaScaling(o: LoupeOptions): Manifest[] {
  return o.pools.map(
    (pool) =>
      new HorizontalPodAutoscaler({
        metadata: { name: names.worker(pool), namespace: o.namespace, labels: labels('worker') },
        spec: {
          scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: names.worker(pool) },
          // A plain HPA cannot scale to zero; KEDA can.
          minReplicas: Math.max(1, pool.minReplicas),
          maxReplicas: pool.maxReplicas,
          metrics: [
            {
              type: 'External',
              external: {
                metric: { name: externalMetric(pool) },
                target: { type: 'AverageValue', averageValue: '1' },
              },
            },
          ],
          behavior: { scaleDown: { stabilizationWindowSeconds: 300 } },
        },
      }),
  );
}

/** Everything but the Secrets, which operators create themselves (secrets() gives their shape). */
export function buildManifests(o: LoupeOptions): Manifest[] {
  return [
    new Namespace({ metadata: { name: o.namespace, labels: labels('namespace') } }),
    ...(o.postgres === 'statefulset' ? postgres(o) : []),
    sharedData(o),
    ...web(o),
    ...o.pools.map((p) => worker(o, p)),
    ...(o.autoscaler === 'keda' ? kedaScaling(o) : hpaScaling(o)),
  ];
}
