import { publicProcedure, router } from '../trpc.ts';

export const systemRouter = router({
  health: publicProcedure.query(() => ({
    ok: true as const,
    service: 'loupe',
    time: new Date().toISOString(),
  })),

  /** What the sign-in page needs before anyone signs in: whether sign-up asks for an invite. */
  settings: publicProcedure.query(({ ctx }) => ({ signup: ctx.signup })),
});
