export { fetchFiles, memoryFiles } from './files.ts';
