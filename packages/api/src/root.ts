import { adminRouter } from './router/admin.ts';
import { authRouter } from './router/auth.ts';
import { catalogRouter, dictionariesRouter, modelsRouter } from './router/catalog.ts';
import { commentsRouter, experimentsRouter, sharesRouter } from './router/collab.ts';
import { presenceRouter } from './router/presence.ts';
import { featuresRouter } from './router/features.ts';
import { graphsRouter } from './router/graphs.ts';
import { investigationsRouter } from './router/investigations.ts';
import { jobsRouter } from './router/jobs.ts';
import { systemRouter } from './router/system.ts';
import { teamsRouter } from './router/teams.ts';
import { router } from './trpc.ts';

export const appRouter = router({
  system: systemRouter,
  auth: authRouter,
  admin: adminRouter,
  teams: teamsRouter,
  catalog: catalogRouter,
  models: modelsRouter,
  dictionaries: dictionariesRouter,
  features: featuresRouter,
  graphs: graphsRouter,
  investigations: investigationsRouter,
  experiments: experimentsRouter,
  comments: commentsRouter,
  shares: sharesRouter,
  presence: presenceRouter,
  jobs: jobsRouter,
});

export type AppRouter = typeof appRouter;
