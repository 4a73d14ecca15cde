import { PrismaPGlite } from 'pglite-prisma-adapter';
import type { PGlite } from '@electric-sql/pglite';

type Factory = InstanceType<typeof PrismaPGlite>;
type Adapter = Awaited<ReturnType<Factory['connect']>>;
type Query = Parameters<Adapter['queryRaw']>[0];

// Prisma 6.19's query compiler sends Bytes arguments as base64 strings tagged scalarType 'bytes'; adapter-pg
// decodes them, pglite-prisma-adapter 0.6.1 passes the string on and PGlite rejects it ("Invalid input for
// bytea type"). Decode here so Blob.data works on both databases.
function decodeBytes(q: Query): Query {
  if (!q.argTypes.some((t) => t.scalarType === 'bytes')) return q;
  const args = q.args.map((a, i) =>
    q.argTypes[i]?.scalarType === 'bytes' && q.argTypes[i]?.arity === 'scalar' && typeof a === 'string'
      ? Buffer.from(a, 'base64')
      : a,
  );
  return { ...q, args };
}

function wrap<T extends object>(target: T): T {
  return new Proxy(target, {
    get(obj, prop, receiver) {
      const value = Reflect.get(obj, prop, receiver);
      if (typeof value !== 'function') return value;
      if (prop === 'queryRaw' || prop === 'executeRaw') return (q: Query) => value.call(obj, decodeBytes(q));
      if (prop === 'startTransaction') {
        return async (...args: unknown[]) => wrap(await value.apply(obj, args));
      }
      return value.bind(obj);
    },
  });
}

/** pglite-prisma-adapter with bytea arguments fixed; otherwise identical. */
export function pgliteAdapter(db: PGlite): Factory {
  const inner = new PrismaPGlite(db);
  return wrap(
    new Proxy(inner, {
      get(obj, prop, receiver) {
        const value = Reflect.get(obj, prop, receiver);
        if (prop === 'connect') return async () => wrap(await (value as Factory['connect']).call(obj));
        return typeof value === 'function' ? value.bind(obj) : value;
      },
    }),
  );
}
