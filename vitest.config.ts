import { defineConfig } from 'vitest/config';

// One vitest run covers every package; each package declares its own project config.
export default defineConfig({
  test: { projects: ['packages/*', 'apps/*', 'infra', 'docs', 'examples'], passWithNoTests: true },
});
