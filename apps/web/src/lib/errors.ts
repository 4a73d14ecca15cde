import { TRPCClientError } from '@trpc/client';

/** The tRPC error code of a failed call ('CONFLICT', 'UNAUTHORIZED', …), or null for other failures. */
export function errorCode(err: unknown): string | null {
  if (err instanceof TRPCClientError) {
    const code = (err.data as { code?: unknown } | undefined)?.code;
    return typeof code === 'string' ? code : null;
  }
  return null;
}

/**
 * A message for people: zod input errors arrive as a JSON list of issues, which reads badly in a form, so
 * those become "field: problem" lines; anything else keeps its own message.
 */
export function errorMessage(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  if (message.startsWith('[')) {
    try {
      const issues = JSON.parse(message) as { path?: (string | number)[]; message?: string }[];
      return issues
        .map((i) => `${i.path?.length ? `${i.path.join('.')}: ` : ''}${i.message ?? ''}`)
        .join('\n');
    } catch {
      return message;
    }
  }
  if (err instanceof TypeError && message === 'Failed to fetch') return 'The server cannot be reached.';
  return message;
}

const final = new Set([
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_FOUND',
  'BAD_REQUEST',
  'CONFLICT',
  'PAYLOAD_TOO_LARGE',
]);

/** Retries network and server failures a few times; an answer that will not change is final at once. */
export function shouldRetry(failureCount: number, err: unknown): boolean {
  const code = errorCode(err);
  return failureCount < 2 && (code === null || !final.has(code));
}
