/** Operator-written JSON files (the model catalogue, the examples seed) read with one kind of error. */
import { readFileSync } from 'node:fs';
import type { z } from 'zod';

/**
 * `file` parsed as JSON and validated by `schema`; a file that is not JSON or does not fit throws an error
 * that starts with `what` and the file's path and names each field at fault.
 */
export function readJsonFile<S extends z.ZodType>(file: string, schema: S, what: string): z.output<S> {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${what} ${file}: ${(e as Error).message}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new Error(`${what} ${file}: ${problems.join('; ')}`);
  }
  return parsed.data;
}
