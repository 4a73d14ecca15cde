import type { RuntimeOptions } from '@loupe/core';
import { type ClaimedJob, type LeaseRef, LeaseLostError, type WorkerApi } from './api.ts';
import { type HandlerRegistry, type JobContext, PermanentJobError, StoredGraph } from './registry.ts';
import { checkJobPaths } from './roots.ts';

export interface LoopOptions {
  workerId: string;
  concurrency: number;
  leaseMs: number;
  heartbeatMs: number;
  pollMs: number;
  /** On stop(), how long running jobs may finish before they are aborted and released. */
  shutdownGraceMs: number;
  /** Real paths of the folders jobs may read and write; a claim's paths outside them fail the job. */
  dataRoots: readonly string[];
  /** After an abort, how long a handler gets to notice its signal before the loop reports without it. */
  abortGraceMs?: number;
  /** Session settings handed to every job's runtime (the execution providers). */
  runtimeOptions?: RuntimeOptions;
  log?: (line: string) => void;
}

export type AbortKind = 'cancelled' | 'lease-lost' | 'shutdown';

/** The AbortSignal reason handed to handlers, so `throw signal.reason` reads well in logs. */
export class JobAbortedError extends Error {
  override name = 'JobAbortedError';
  constructor(readonly kind: AbortKind) {
    super(`job aborted: ${kind}`);
  }
}

/** Pending log lines, bounded so a chatty handler cannot grow memory while the API is unreachable. */
export class LogBuffer {
  static readonly maxLines = 1_000;
  static readonly maxLineChars = 4_000;
  private lines: string[] = [];
  private dropped = 0;

  push(line: string): void {
    const text = line.length > LogBuffer.maxLineChars ? `${line.slice(0, LogBuffer.maxLineChars)}…` : line;
    this.lines.push(text);
    if (this.lines.length > LogBuffer.maxLines) {
      this.lines.shift();
      this.dropped++;
    }
  }

  drain(): string[] {
    const out = this.dropped > 0 ? [`[${this.dropped} log lines dropped]`, ...this.lines] : this.lines;
    this.lines = [];
    this.dropped = 0;
    return out;
  }

  /** Puts back lines whose delivery failed, ahead of anything logged since. */
  restore(lines: readonly string[]): void {
    const newer = this.lines;
    this.lines = [];
    for (const l of [...lines, ...newer]) this.push(l);
  }
}

type Outcome<R> = { kind: 'ok'; value: R } | { kind: 'error'; error: unknown } | { kind: 'abandoned' };

/** Waits for the handler, but no longer than graceMs after the signal aborts: a handler ignoring it cannot wedge the loop. */
function settle<R>(p: Promise<R>, signal: AbortSignal, graceMs: number): Promise<Outcome<R>> {
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      timer = setTimeout(() => resolve({ kind: 'abandoned' }), graceMs);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (value) => resolve({ kind: 'ok', value }),
      (error: unknown) => resolve({ kind: 'error', error }),
    ).finally(() => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    });
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** The error as team viewers read it in the job's log: its name and message, never its stack. */
export function errorText(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return String(e);
}

interface RunningJob {
  abort(kind: AbortKind): void;
}

/**
 * Claims jobs with a lease, runs their handlers, renews the lease every heartbeatMs while reporting progress and
 * logs, and reports the outcome. A job whose lease is lost is dropped silently: the server has already handed it
 * to another worker, and only that worker's result may count.
 */
export class JobLoop {
  private stopping = false;
  private readonly stopController = new AbortController();
  private readonly running = new Map<string, RunningJob>();
  private slots: Promise<void>[] = [];
  private readonly abortGraceMs: number;
  private readonly log: (line: string) => void;

  constructor(
    private readonly api: WorkerApi,
    private readonly registry: HandlerRegistry,
    private readonly opts: LoopOptions,
  ) {
    if (opts.heartbeatMs * 2 > opts.leaseMs) {
      throw new Error(`heartbeatMs (${opts.heartbeatMs}) must be at most half of leaseMs (${opts.leaseMs})`);
    }
    if (registry.kinds().length === 0) throw new Error('the worker has no job kinds to run');
    this.abortGraceMs = opts.abortGraceMs ?? 5_000;
    this.log = opts.log ?? ((line) => console.log(`[worker] ${line}`));
  }

  /** Resolves once every slot has exited after stop(). */
  run(): Promise<void> {
    if (this.slots.length > 0) throw new Error('the job loop is already running');
    this.slots = Array.from({ length: this.opts.concurrency }, (_, i) => this.slot(i));
    return Promise.all(this.slots).then(() => undefined);
  }

  /** Stops claiming; running jobs get shutdownGraceMs to finish, then are aborted and handed back to the queue. */
  async stop(): Promise<void> {
    if (!this.stopping) {
      this.stopping = true;
      this.stopController.abort();
      const all = Promise.all(this.slots);
      const finished = await Promise.race([
        all.then(() => true),
        sleep(this.opts.shutdownGraceMs, new AbortController().signal).then(() => false),
      ]);
      if (!finished) for (const job of this.running.values()) job.abort('shutdown');
    }
    await Promise.all(this.slots);
  }

  private async slot(index: number): Promise<void> {
    const kinds = this.registry.kinds();
    let failures = 0;
    while (!this.stopping) {
      let job: ClaimedJob | null;
      try {
        job = await this.api.claim({ workerId: this.opts.workerId, kinds, leaseMs: this.opts.leaseMs });
        failures = 0;
      } catch (e) {
        failures++;
        const wait = Math.min(30_000, this.opts.pollMs * 2 ** Math.min(failures, 10));
        this.log(`claim failed (${e instanceof Error ? e.message : String(e)}); retrying in ${wait} ms`);
        await sleep(wait, this.stopController.signal);
        continue;
      }
      if (job === null) {
        // Jitter keeps many idle workers from polling in lockstep.
        await sleep(this.opts.pollMs * (0.75 + Math.random() * 0.5), this.stopController.signal);
        continue;
      }
      await this.runJob(job, index);
    }
  }

  private async runJob(job: ClaimedJob, slot: number): Promise<void> {
    const lease: LeaseRef = { jobId: job.id, leaseToken: job.leaseToken };
    const logs = new LogBuffer();
    const tag = `job ${job.id} (${job.kind}, attempt ${job.attempt})`;
    this.log(`claimed ${tag} in slot ${slot}`);

    const handler = this.registry.get(job.kind);
    if (!handler) {
      const error = `no handler for kind '${job.kind}'`;
      this.log(`${tag} rejected: ${error}`);
      await this.report(tag, () => this.api.fail({ ...lease, error, retryable: false }));
      return;
    }
    const parsed = handler.paramsSchema.safeParse(job.params);
    if (!parsed.success) {
      const problems = parsed.error.issues
        .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
        .join('; ');
      const error = `invalid params for '${job.kind}': ${problems}`;
      this.log(`${tag} rejected: ${error}`);
      await this.report(tag, () => this.api.fail({ ...lease, error, retryable: false }));
      return;
    }
    try {
      checkJobPaths(job.paths, this.opts.dataRoots);
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      this.log(`${tag} rejected: ${error}`);
      await this.report(tag, () => this.api.fail({ ...lease, error, retryable: false }));
      return;
    }

    const ac = new AbortController();
    const abort = (kind: AbortKind) => {
      if (!ac.signal.aborted) {
        this.log(`${tag}: ${kind}`);
        ac.abort(new JobAbortedError(kind));
      }
    };
    this.running.set(job.id, { abort });
    if (this.stopping) abort('shutdown');

    let progress: { percent: number; message?: string } | undefined;
    let lastRenewed = Date.now();
    let heartbeatInFlight: Promise<void> | undefined;
    const heartbeat = async () => {
      const lines = logs.drain();
      // The server's new lease starts when it handles the request, so time it from the send, not the reply.
      const sentAt = Date.now();
      try {
        const reply = await this.api.heartbeat({
          ...lease,
          leaseMs: this.opts.leaseMs,
          progress,
          logs: lines,
        });
        lastRenewed = sentAt;
        if (reply.cancelRequested) abort('cancelled');
      } catch (e) {
        if (e instanceof LeaseLostError) return abort('lease-lost');
        logs.restore(lines);
        this.log(`${tag}: heartbeat failed (${e instanceof Error ? e.message : String(e)})`);
      }
    };
    const timer = setInterval(() => {
      // Checked here too, not only when a heartbeat fails: a heartbeat that hangs must not keep the job alive.
      if (Date.now() - lastRenewed >= this.opts.leaseMs) return abort('lease-lost');
      if (!heartbeatInFlight) heartbeatInFlight = heartbeat().finally(() => (heartbeatInFlight = undefined));
    }, this.opts.heartbeatMs);

    const putFeatureIndex = this.api.putFeatureIndex?.bind(this.api);
    const ctx: JobContext = {
      signal: ac.signal,
      jobId: job.id,
      workerId: this.opts.workerId,
      attempt: job.attempt,
      paths: job.paths,
      runtimeOptions: this.opts.runtimeOptions ?? {},
      progress(percent, message) {
        const p = Number.isFinite(percent) ? Math.min(100, Math.max(0, percent)) : 0;
        progress = message === undefined ? { percent: p } : { percent: p, message: message.slice(0, 1_000) };
      },
      log: (line) => logs.push(line),
      ...(putFeatureIndex ? { putFeatureIndex: (chunk) => putFeatureIndex({ ...lease, ...chunk }) } : {}),
    };

    const startedAt = Date.now();
    const outcome = await settle(
      Promise.resolve().then(() => handler.run(parsed.data, ctx)),
      ac.signal,
      this.abortGraceMs,
    );
    clearInterval(timer);
    await heartbeatInFlight;
    this.running.delete(job.id);
    const reason = ac.signal.aborted ? (ac.signal.reason as JobAbortedError).kind : undefined;
    const seconds = ((Date.now() - startedAt) / 1000).toFixed(2);
    if (outcome.kind === 'abandoned')
      logs.push(`handler did not stop within ${this.abortGraceMs} ms of ${reason}`);

    if (reason === 'lease-lost') return;

    if (outcome.kind === 'error' && !reason) {
      logs.push(errorText(outcome.error));
      // The stack stays on the worker's own console, for its operator.
      if (outcome.error instanceof Error && outcome.error.stack) this.log(`${tag}: ${outcome.error.stack}`);
    }
    // The final calls carry no logs, so the last lines (and final progress) travel on one last heartbeat.
    const lines = logs.drain();
    if (lines.length > 0 || progress) {
      const flushed = await this.report(tag, () =>
        this.api
          .heartbeat({ ...lease, leaseMs: this.opts.leaseMs, progress, logs: lines })
          .then(() => undefined),
      );
      if (!flushed) return;
    }
    if (reason === 'cancelled') {
      this.log(`${tag} cancelled after ${seconds} s`);
      await this.report(tag, () => this.api.ackCancel(lease));
    } else if (outcome.kind === 'ok') {
      this.log(`${tag} succeeded in ${seconds} s`);
      const value = outcome.value;
      const done =
        value instanceof StoredGraph
          ? { ...lease, result: value.summary ?? null, graph: value.graph }
          : { ...lease, result: value ?? null };
      await this.report(tag, () => this.api.complete(done));
    } else if (reason === 'shutdown') {
      this.log(`${tag} handed back for another worker (shutting down)`);
      const release = this.api.release?.bind(this.api);
      if (release) await this.report(tag, () => release(lease));
    } else {
      const cause = outcome.kind === 'error' ? outcome.error : new Error('handler abandoned');
      const error = cause instanceof Error ? cause.message : String(cause);
      this.log(`${tag} failed after ${seconds} s: ${error}`);
      const retryable = !(cause instanceof PermanentJobError);
      await this.report(tag, () => this.api.fail({ ...lease, error, retryable }));
    }
  }

  /**
   * Delivers one call of a job's final report, retrying transient errors for at least 30 s. Retrying past the
   * lease is harmless: if another worker took the job meanwhile, the server refuses this late report.
   * Returns false when the report was refused or never got through.
   */
  private async report(tag: string, send: () => Promise<void>): Promise<boolean> {
    const deadline = Date.now() + Math.max(this.opts.leaseMs, 30_000);
    for (let attempt = 0; ; attempt++) {
      try {
        await send();
        return true;
      } catch (e) {
        if (e instanceof LeaseLostError) {
          this.log(`${tag}: lease lost before the outcome was recorded; another worker owns it now`);
          return false;
        }
        const why = e instanceof Error ? e.message : String(e);
        if (Date.now() >= deadline) {
          this.log(`${tag}: giving up reporting the outcome (${why})`);
          return false;
        }
        this.log(`${tag}: reporting the outcome failed (${why}); retrying`);
        await sleep(Math.min(5_000, 200 * 2 ** attempt), new AbortController().signal);
      }
    }
  }
}
