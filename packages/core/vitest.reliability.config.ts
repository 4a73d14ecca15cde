import { defineProject } from 'vitest/config';

// `pnpm test:reliability`: the long property-based runs, kept out of the unit tests' time budget.
export default defineProject({
  test: { name: 'core-reliability', include: ['reliability/**/*.fuzz.ts'], testTimeout: 1_800_000 },
});
