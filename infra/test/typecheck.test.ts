import path from 'node:path';
import ts from 'typescript';
import { expect, it } from 'vitest';

const infra = path.resolve(import.meta.dirname, '..');

// The JSON schemas accept unknown fields (the API server drops or rejects them at apply time); the typed
// models do not, so the compiler is the check that a misspelt field in the generator is caught.
it('the generator type-checks against the Kubernetes model types, which reject unknown fields', () => {
  const config = ts.getParsedCommandLineOfConfigFile(
    path.join(infra, 'tsconfig.json'),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      },
    },
  );
  if (!config) throw new Error('infra/tsconfig.json did not parse');
  const broken = path.join(infra, 'k8s', 'broken-copy.ts');
  const brokenText = `import { Deployment } from 'kubernetes-models/apps/v1';
export const d = new Deployment({
  metadata: { name: 'x' },
  spec: { selector: {}, template: { spec: { containers: [{ name: 'c', image: 'i', imagePullPolicy: 'Always', resouces: {} }] } } },
});
`;
  const host = ts.createCompilerHost(config.options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (file, lang, ...rest) =>
    file === broken ? ts.createSourceFile(file, brokenText, lang) : getSourceFile(file, lang, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (file) => file === broken || fileExists(file);

  const program = ts.createProgram([...config.fileNames, broken], config.options, host);
  // Only infra's own files: the worker and packages it imports are type-checked by their own builds.
  const problems = ts
    .getPreEmitDiagnostics(program)
    .map((d) => ({
      file: d.file ? path.relative(infra, d.file.fileName) : '',
      message: ts.flattenDiagnosticMessageText(d.messageText, '\n'),
    }))
    .filter((p) => !p.file.startsWith('..'));
  expect(problems.filter((p) => p.file !== 'k8s/broken-copy.ts')).toEqual([]);
  expect(problems).toEqual([
    {
      file: 'k8s/broken-copy.ts',
      message: expect.stringMatching(/'resouces' does not exist in type 'IContainer'/),
    },
  ]);
}, 300_000);
