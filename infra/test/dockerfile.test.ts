import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DockerfileParser } from 'dockerfile-ast';
import { ValidationSeverity, validate } from 'dockerfile-utils';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const dockerDir = path.join(root, 'infra/docker');
const dockerfiles = ['Dockerfile.web', 'Dockerfile.worker'];
const read = (name: string) => readFileSync(path.join(dockerDir, name), 'utf8');

/** dockerfile-utils (the Docker language server's validator) with every optional check raised to an error. */
function lint(text: string): string[] {
  const E = ValidationSeverity.ERROR;
  return validate(text, {
    deprecatedMaintainer: E,
    directiveCasing: E,
    emptyContinuationLine: E,
    instructionCasing: E,
    instructionCmdMultiple: E,
    instructionEntrypointMultiple: E,
    instructionHealthcheckMultiple: E,
    instructionJSONInSingleQuotes: E,
    instructionWorkdirRelative: E,
  }).map((d) => `${d.range.start.line + 1}: ${d.message}`);
}

interface Stage {
  name: string | null;
  image: string;
  /** args: the arguments after the keyword and its flags; text: the whole instruction. */
  instructions: { keyword: string; args: string; text: string }[];
}

function stagesOf(text: string): { args: Map<string, string>; stages: Stage[] } {
  const file = DockerfileParser.parse(text);
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const ins of file.getInstructions()) {
    const keyword = ins.getKeyword();
    const argText = ins.getArgumentsContent() ?? '';
    if (keyword === 'FROM') {
      const [image, as, name] = argText.split(/\s+/);
      stages.push({ name: as?.toUpperCase() === 'AS' ? name : null, image, instructions: [] });
    } else if (stages.length === 0 && keyword === 'ARG') {
      const [k, v] = argText.split('=');
      if (v !== undefined) args.set(k, v);
    } else stages.at(-1)?.instructions.push({ keyword, args: argText, text: ins.getTextContent() });
  }
  return { args, stages };
}

const expand = (s: string, args: Map<string, string>) =>
  s.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => args.get(a ?? b) ?? `<unset ${a ?? b}>`);

/**
 * What the images promise beyond syntax: several stages, base images pinned to a version, `--from` naming an
 * earlier stage, and every stage that runs something doing so as a non-root user with an exec-form CMD.
 */
function policyProblems(text: string): string[] {
  const problems: string[] = [];
  const { args, stages } = stagesOf(text);
  if (stages.length < 2) problems.push('not a multi-stage build');
  stages.forEach((stage, i) => {
    const earlier = stages.slice(0, i).map((s) => s.name);
    const image = expand(stage.image, args);
    if (!earlier.includes(image)) {
      const tag = image.split('/').at(-1)?.split(':')[1];
      if (!tag || tag === 'latest' || !/\d/.test(tag))
        problems.push(`${stage.name}: base image ${image} is not pinned`);
    }
    for (const ins of stage.instructions) {
      const from = ins.keyword === 'COPY' && /--from=(\S+)/.exec(ins.text)?.[1];
      if (from && !earlier.includes(from))
        problems.push(`${stage.name}: COPY --from=${from} is not an earlier stage`);
    }
    const cmd = stage.instructions.findLastIndex((x) => x.keyword === 'CMD');
    if (cmd < 0) return;
    if (!stage.instructions[cmd].args.trim().startsWith('['))
      problems.push(`${stage.name}: CMD is in shell form (signals would reach a shell, not node)`);
    const user = stage.instructions
      .slice(0, cmd)
      .filter((x) => x.keyword === 'USER')
      .at(-1)?.args;
    if (!user || /^(root|0)(:|$)/.test(user.trim())) problems.push(`${stage.name}: runs as root`);
  });
  return problems;
}

/** Every workspace package's manifest: the frozen install needs them all to match the lockfile. */
function workspaceManifests(): string[] {
  const globs: string[] = parse(readFileSync(path.join(root, 'pnpm-workspace.yaml'), 'utf8')).packages;
  return globs.flatMap((g) => {
    // An entry is either a folder of packages (`apps/*`) or one package (`docs`).
    if (!g.endsWith('/*')) return [`${g}/package.json`];
    const dir = g.slice(0, -2);
    return readdirSync(path.join(root, dir))
      .map((d) => `${dir}/${d}/package.json`)
      .filter((f) => existsSync(path.join(root, f)));
  });
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? tsFiles(path.join(dir, e.name))
      : e.name.endsWith('.ts')
        ? [path.join(dir, e.name)]
        : [],
  );
}

/** Packages apps/worker/src imports for their values (static, side-effect and dynamic imports; not `import type`). */
function workerRuntimeImports(): Set<string> {
  const found = new Set<string>();
  for (const file of tsFiles(path.join(root, 'apps/worker/src'))) {
    const text = readFileSync(file, 'utf8');
    const specs = [
      ...text.matchAll(/^\s*import\s+(?!type\s)(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/gm),
      ...text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g),
    ].map((m) => m[1]);
    for (const spec of specs) {
      if (spec.startsWith('.') || spec.startsWith('node:')) continue;
      found.add(
        spec
          .split('/')
          .slice(0, spec.startsWith('@') ? 2 : 1)
          .join('/'),
      );
    }
  }
  return found;
}

/** What the worker imports but the image's `pnpm deploy` leaves out (devDependencies go only without --prod). */
const workerPackage = () => JSON.parse(readFileSync(path.join(root, 'apps/worker/package.json'), 'utf8'));

function workerImportsMissingFrom(dockerfile: string, pkg = workerPackage()): string[] {
  const deploy = /pnpm --filter @loupe\/worker deploy[^\n]*/.exec(dockerfile)?.[0] ?? '';
  const installed = new Set(
    Object.keys({ ...pkg.dependencies, ...(deploy.includes('--prod') ? {} : pkg.devDependencies) }),
  );
  return [...workerRuntimeImports()].filter((p) => !installed.has(p)).sort();
}

describe.each(dockerfiles)('%s', (name) => {
  it('passes the Dockerfile linter with every check an error', () => {
    expect(lint(read(name))).toEqual([]);
  });

  it('is multi-stage, pinned, and runs as a non-root user', () => {
    expect(policyProblems(read(name))).toEqual([]);
  });

  it('has a dockerignore beside it that keeps build outputs and secrets out of the context', () => {
    const ignore = read(`${name}.dockerignore`).split('\n');
    for (const p of ['**/node_modules', '**/.next', '.git', '.loupe']) expect(ignore).toContain(p);
  });
});

describe('what the images are built from', () => {
  it('the web image installs production dependencies from every workspace manifest', () => {
    const copied = [...read('Dockerfile.web').matchAll(/^COPY (\S+\/package\.json) /gm)].map((m) => m[1]);
    expect(copied.sort()).toEqual(workspaceManifests().sort());
  });

  it("the worker image holds every package the worker's code imports at run time", () => {
    const missing = workerImportsMissingFrom(read('Dockerfile.worker'));
    expect(missing).toEqual([]);
  });

  it('installs are frozen to the lockfile', () => {
    for (const name of dockerfiles) {
      const installs = stagesOf(read(name))
        .stages.flatMap((s) => s.instructions)
        .filter((i) => i.keyword === 'RUN' && /pnpm .*\b(install|deploy)\b/.test(i.args));
      expect(installs.length, name).toBeGreaterThan(0);
      for (const i of installs) expect(i.args).toContain('--frozen-lockfile');
    }
  });

  it('the worker has the cpu and gpu targets; the GPU one fetches the CUDA provider and sets the providers', () => {
    const { stages } = stagesOf(read('Dockerfile.worker'));
    expect(stages.map((s) => s.name)).toEqual(expect.arrayContaining(['cpu', 'gpu']));
    expect(stages.at(-1)?.name).toBe('cpu');
    const gpuEnv = stages.find((s) => s.name === 'gpu')?.instructions.find((i) => i.keyword === 'ENV')?.args;
    expect(gpuEnv).toContain('LOUPE_EXECUTION_PROVIDERS=cuda,cpu');
    expect(read('Dockerfile.worker')).toMatch(/ONNXRUNTIME_NODE_INSTALL=cuda12 node script\/install\.js/);
  });

  it('both images hold the shipped organisms at the path the web catalogue gives workers', () => {
    // apps/web/src/server/db.ts catalogues <workspace root>/packages/organism/models; both images' root is /app.
    expect(read('Dockerfile.web')).toMatch(/^WORKDIR \/app$/m);
    expect(read('Dockerfile.web')).toMatch(/^COPY packages\/organism\/models packages\/organism\/models$/m);
    const links = read('Dockerfile.worker').match(
      /ln -s \.\.\/\.\.\/node_modules\/@loupe\/organism\/models \/app\/packages\/organism\/models$/gm,
    );
    expect(links).toHaveLength(2);
  });

  it('the web healthcheck asks the same health procedure as the Kubernetes probes', () => {
    expect(read('Dockerfile.web')).toContain("fetch('http://127.0.0.1:3000/api/trpc/system.health')");
  });
});

describe('the Dockerfile checks fail on broken copies', () => {
  it('linter: an unknown instruction, a bad port, a relative WORKDIR', () => {
    const broken = `${read('Dockerfile.web')}\nRUNN echo\nEXPOSE http\nWORKDIR app\n`;
    const found = lint(broken);
    expect(found).toHaveLength(3);
    expect(found.join('\n')).toMatch(/Unknown instruction: RUNN/);
    expect(found.join('\n')).toMatch(/Invalid containerPort: http/);
    expect(found.join('\n')).toMatch(/WORKDIR paths should be absolute/);
  });

  it('policy: root, shell-form CMD, an unpinned base, an unknown --from, one stage', () => {
    const worker = read('Dockerfile.worker');
    const lastUser = worker.lastIndexOf('USER node');
    const asRoot = `${worker.slice(0, lastUser)}USER root${worker.slice(lastUser + 'USER node'.length)}`;
    expect(policyProblems(asRoot)).toEqual(['cpu: runs as root']);
    expect(policyProblems(worker.replace(/\nUSER node\n/g, '\n'))).toEqual([
      'gpu: runs as root',
      'cpu: runs as root',
    ]);
    expect(policyProblems(worker.replace(/CMD \["node".*\]\s*$/, 'CMD node src/main.ts\n'))).toEqual([
      'cpu: CMD is in shell form (signals would reach a shell, not node)',
    ]);
    expect(
      policyProblems(worker.replace('ARG NODE_VERSION=20.20.2', 'ARG NODE_VERSION=latest')),
    ).toHaveLength(2);
    expect(
      policyProblems(worker.replace('COPY --from=build /out /app', 'COPY --from=builder /out /app')),
    ).toEqual(['cpu: COPY --from=builder is not an earlier stage']);
    expect(policyProblems('FROM node:20.20.2-bookworm-slim\nUSER node\nCMD ["node"]\n')).toEqual([
      'not a multi-stage build',
    ]);
  });

  it('drift: a package the worker imports at run time that its image would not install', () => {
    const pkg = workerPackage();
    delete pkg.dependencies['onnxruntime-node'];
    expect(workerImportsMissingFrom(read('Dockerfile.worker'), pkg)).toEqual(['onnxruntime-node']);
    const devOnly = { ...workerPackage(), dependencies: {} };
    const prod = read('Dockerfile.worker');
    expect(workerImportsMissingFrom(prod, devOnly)).toEqual([...workerRuntimeImports()].sort());
  });

  it('drift: a workspace package the web image does not copy', () => {
    const copied = [
      ...read('Dockerfile.web')
        .replace('COPY packages/core/package.json packages/core/\n', '')
        .matchAll(/^COPY (\S+\/package\.json) /gm),
    ].map((m) => m[1]);
    expect(workspaceManifests().filter((m) => !copied.includes(m))).toEqual(['packages/core/package.json']);
  });
});
