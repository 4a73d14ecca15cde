import { defineProject } from 'vitest/config';

export default defineProject({ test: { name: 'case-studies', include: ['test/**/*.test.ts'] } });
