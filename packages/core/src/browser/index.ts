export { fetchFiles, memoryFiles } from './files.ts';
export { type BrowserRuntimeOptions, browserRuntime, type WebOrtModule } from './runtime.ts';
