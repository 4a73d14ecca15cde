/**
 * The entry of the bundled CLI (dist/loupe.mjs, built by build.mjs and run by `pnpm loupe`): main.ts runs the
 * command line only when it is the executed file, which inside a bundle it is not.
 */
import { runProcess } from './main.ts';

await runProcess();
