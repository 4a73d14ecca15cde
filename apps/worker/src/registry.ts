import type { JobKind, JobParams, JobPaths } from '@loupe/api/jobs';
import { jobContract } from '@loupe/api/jobs';
import type { GraphJson, RuntimeOptions } from '@loupe/core';
import type { z } from 'zod';
import type { FeatureIndexChunk } from './api.ts';

/** What a handler may do besides computing: report progress, append log lines, and notice cancellation. */
export interface JobContext {
  /** Aborted when the job is cancelled from the UI, its lease is lost, or the worker shuts down. */
  signal: AbortSignal;
  /** percent in [0, 100]; the latest call wins and reaches the API with the next heartbeat. */
  progress(percent: number, message?: string): void;
  log(line: string): void;
  jobId: string;
  workerId: string;
  /** 1 on the first run, 2 after one lost lease or failure, … */
  attempt: number;
  /** The files the server resolved for this job at claim time, already checked against the data roots. */
  paths: JobPaths;
  /** Options for the job's onnxruntime sessions (the worker's execution providers); pass to nodeRuntime. */
  runtimeOptions?: RuntimeOptions;
  /** Loads a chunk of a built feature index into the database under this job's lease; absent without an API. */
  putFeatureIndex?(chunk: FeatureIndexChunk): Promise<void>;
}

export interface JobHandler<P = unknown, R = unknown> {
  kind: string;
  /** Validates the job's stored params before anything runs; a mismatch fails the job without retry. */
  paramsSchema: z.ZodType<P>;
  run(params: P, ctx: JobContext): Promise<R>;
}

/**
 * A handler result that also carries an attribution graph (circuit-tracer / Neuronpedia JSON): the web app
 * stores the graph with queryable node summaries and adds its id to the job's result.
 */
export class StoredGraph<S = unknown> {
  constructor(
    readonly summary: S,
    readonly graph: { prompt: string; slug?: string; graph: GraphJson },
  ) {}
}

/** Thrown by a handler for failures that a retry cannot fix (bad params, missing files). */
export class PermanentJobError extends Error {
  override name = 'PermanentJobError';
}

/** Runs `f`, any error of it a PermanentJobError: for steps that fail only on what the job asked for. */
export async function permanent<T>(f: () => Promise<T> | T): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw new PermanentJobError(e instanceof Error ? e.message : String(e));
  }
}

/** Preserves the link between a handler's schema and its run() parameter while erasing it for the registry. */
export function defineHandler<S extends z.ZodType, R>(h: {
  kind: string;
  paramsSchema: S;
  run(params: z.output<S>, ctx: JobContext): Promise<R>;
}): JobHandler<unknown, unknown> {
  return h as unknown as JobHandler<unknown, unknown>;
}

/**
 * The handler of a kind of the job contract (@loupe/api/jobs): its params schema and type are the ones the
 * server validated the job with at enqueue.
 */
export function contractHandler<K extends JobKind, R>(
  kind: K,
  run: (params: JobParams<K>, ctx: JobContext) => Promise<R>,
): JobHandler<unknown, unknown> {
  return defineHandler({ kind, paramsSchema: jobContract[kind] as unknown as z.ZodType<JobParams<K>>, run });
}

export class HandlerRegistry {
  private readonly byKind = new Map<string, JobHandler>();

  constructor(handlers: readonly JobHandler[] = []) {
    for (const h of handlers) this.register(h);
  }

  register(h: JobHandler): this {
    if (!/^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)*$/.test(h.kind))
      throw new Error(`invalid job kind '${h.kind}'`);
    if (this.byKind.has(h.kind)) throw new Error(`job kind '${h.kind}' is registered twice`);
    this.byKind.set(h.kind, h);
    return this;
  }

  get(kind: string): JobHandler | undefined {
    return this.byKind.get(kind);
  }

  kinds(): string[] {
    return [...this.byKind.keys()].sort();
  }

  /** Keeps only `kinds` (LOUPE_JOB_KINDS); naming a kind this worker does not have is a configuration error. */
  restrict(kinds: readonly string[] | undefined): HandlerRegistry {
    if (!kinds) return this;
    const unknown = kinds.filter((k) => !this.byKind.has(k));
    if (unknown.length > 0) {
      throw new Error(
        `LOUPE_JOB_KINDS names unknown kind(s) ${unknown.join(', ')}; known: ${this.kinds().join(', ')}`,
      );
    }
    return new HandlerRegistry(kinds.map((k) => this.byKind.get(k)!));
  }
}
