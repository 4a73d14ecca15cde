export { appRouter, type AppRouter } from './root.ts';
export { createCallerFactory, type Context } from './trpc.ts';
