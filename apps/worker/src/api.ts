import type { JobPaths } from '@loupe/api/jobs';
import type { StoredGraph } from './registry.ts';

/**
 * What the job loop needs from the web app. The tRPC adapter (trpc-api.ts) implements it over HTTP; keeping
 * the loop behind this interface lets its timing logic be tested without a server.
 */
export interface ClaimedJob {
  id: string;
  kind: string;
  params: unknown;
  /** 1 for the first claim; incremented by every later claim of the same job. */
  attempt: number;
  /** Proves on every later call that this worker still holds the job. */
  leaseToken: string;
  /** The files the server resolved from the job's catalogue ids; the worker checks them against its roots. */
  paths: JobPaths;
}

export interface LeaseRef {
  jobId: string;
  leaseToken: string;
}

/** One upload of a built feature index (`dictionaries.putFeatureIndex`): records of one layer, base64. */
export interface FeatureIndexChunk {
  dictionaryId: string;
  layer: number;
  features: { featureIndex: number; autoLabel: string; record: string }[];
}

export interface WorkerApi {
  claim(req: { workerId: string; kinds: string[]; leaseMs: number }): Promise<ClaimedJob | null>;
  /** Renews the lease and stores progress/logs; tells the worker whether the UI asked to cancel. */
  heartbeat(
    req: LeaseRef & { leaseMs: number; progress?: { percent: number; message?: string }; logs: string[] },
  ): Promise<{ cancelRequested: boolean }>;
  /** Written at most once by the server: a retried or duplicate completion cannot create a second result. */
  complete(req: LeaseRef & { result: unknown; graph?: StoredGraph['graph'] }): Promise<void>;
  /** retryable: false ends the job now; true lets the server retry it with backoff until its attempts run out. */
  fail(req: LeaseRef & { error: string; retryable: boolean }): Promise<void>;
  /** Confirms that a job whose cancellation was requested has stopped. */
  ackCancel(req: LeaseRef): Promise<void>;
  /**
   * Hands an unfinished job back on graceful shutdown. Absent when the server has no such call: the worker
   * then just stops renewing the lease, and another worker claims the job once it expires.
   */
  release?(req: LeaseRef): Promise<void>;
  /** Loads a chunk of a feature index into a dictionary of the leased job's team. */
  putFeatureIndex?(req: LeaseRef & FeatureIndexChunk): Promise<void>;
}

/** The server no longer recognises this worker's lease (it expired and the job moved on, or it finished). */
export class LeaseLostError extends Error {
  override name = 'LeaseLostError';
}
