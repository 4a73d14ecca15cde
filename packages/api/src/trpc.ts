import { initTRPC } from '@trpc/server';

export interface Context {
  /** Headers of the incoming request; auth reads its cookie or bearer token from here. */
  headers: Headers;
}

const t = initTRPC.context<Context>().create();

export const router = t.router;
export const publicProcedure = t.procedure;
export const createCallerFactory = t.createCallerFactory;
