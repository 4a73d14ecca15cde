import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import Ajv from 'ajv';
import { DCLinter } from 'dclint';
import { DockerfileParser } from 'dockerfile-ast';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { jobKinds } from '../k8s/loupe.ts';

const root = path.resolve(import.meta.dirname, '../..');
const composeDir = path.join(root, 'infra/docker');
const composeText = readFileSync(path.join(composeDir, 'compose.yaml'), 'utf8');

// biome-ignore lint/suspicious/noExplicitAny: a compose file is whatever YAML holds until the schema says otherwise
type Json = any;

/**
 * Compose's variable substitution: `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?message}`,
 * `${VAR?message}`, and `$$` for a literal dollar. A required variable left unset is an error, as in compose.
 */
function interpolate(text: string, env: Record<string, string>): string {
  return text.replace(
    /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}|\$\{[^}]*\}/g,
    (m, name, colon, op, arg) => {
      if (m === '$$') return '$';
      if (name === undefined) throw new Error(`invalid interpolation ${m}`);
      const value = env[name];
      const unset = value === undefined || (colon === ':' && value === '');
      if (!unset) return value;
      if (op === '?') throw new Error(`${name}: ${arg || 'required variable is not set'}`);
      return op === '-' ? arg : '';
    },
  );
}

// dclint ships the current compose-spec schema (with `name`, `include`, `models`) beside its linter.
const require = createRequire(import.meta.url);
const dclintDir = path.dirname(require.resolve('dclint/package.json'));
const schema = JSON.parse(readFileSync(path.join(dclintDir, 'schemas/compose.schema.json'), 'utf8'));
// Draft-07 under an https URI without '#', which Ajv's own draft-07 meta-schema is not registered as.
delete schema.$schema;
const ajv = new Ajv({ strict: false, allErrors: true });
const validateSchema = ajv.compile(schema);

function schemaProblems(model: Json): string[] {
  if (validateSchema(model)) return [];
  return (validateSchema.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`);
}

const stages = (dockerfile: string) =>
  DockerfileParser.parse(readFileSync(dockerfile, 'utf8'))
    .getFROMs()
    .map((f) => f.getBuildStage());

/** What `docker compose config` and `up` would refuse beyond the schema. */
function referenceProblems(model: Json): string[] {
  const problems: string[] = [];
  const services = model.services ?? {};
  for (const [name, svc] of Object.entries<Json>(services)) {
    const deps = Array.isArray(svc.depends_on) ? svc.depends_on : Object.keys(svc.depends_on ?? {});
    for (const dep of deps) {
      if (!services[dep]) problems.push(`${name}: depends on unknown service ${dep}`);
      else if (svc.depends_on[dep]?.condition === 'service_healthy' && !services[dep].healthcheck)
        problems.push(`${name}: waits for ${dep} to be healthy, but it has no healthcheck`);
    }
    for (const v of svc.volumes ?? []) {
      const source = typeof v === 'string' ? v.split(':')[0] : v.source;
      const named = source && !source.startsWith('.') && !source.startsWith('/');
      if (named && !(source in (model.volumes ?? {})))
        problems.push(`${name}: volume ${source} is not declared`);
    }
    if (svc.build) {
      const context = path.resolve(composeDir, svc.build.context ?? '.');
      const dockerfile = path.join(context, svc.build.dockerfile ?? 'Dockerfile');
      if (!existsSync(dockerfile)) problems.push(`${name}: ${dockerfile} does not exist`);
      else if (svc.build.target && !stages(dockerfile).includes(svc.build.target))
        problems.push(`${name}: ${path.relative(root, dockerfile)} has no stage ${svc.build.target}`);
    }
  }
  return problems;
}

const env = { POSTGRES_PASSWORD: 'pw' };
const load = (text: string, vars: Record<string, string> = env): Json =>
  parse(interpolate(text, vars), { merge: true });
const problems = (model: Json) => [...schemaProblems(model), ...referenceProblems(model)];

/**
 * dclint's rules at their default levels on the raw file (it reads the text, so lines come back too), but
 * port quotes double, as the repository's formatter (biome) writes YAML.
 */
function lint(text: string): string[] {
  const dir = mkdtempSync(path.join(tmpdir(), 'loupe-compose-'));
  try {
    const file = path.join(dir, 'compose.yaml');
    writeFileSync(file, text);
    const [result] = new DCLinter({
      rules: { 'require-quotes-in-ports': [1, { quoteType: 'double' }] },
      quiet: false,
      debug: false,
      exclude: [],
    }).lintFiles([file], false);
    return result.messages.map((m) => `${m.line}: ${m.rule}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('compose.yaml', () => {
  it('validates against the compose-spec schema, with every reference resolved', () => {
    expect(problems(load(composeText))).toEqual([]);
    expect(
      problems(load(composeText, { ...env, LOUPE_WORKERS: '6', LOUPE_CPU_JOB_KINDS: 'diagnostics' })),
    ).toEqual([]);
  });

  it('is the whole stack: PostgreSQL, web, N CPU workers, a GPU worker behind a profile', () => {
    const c = load(composeText, { ...env, LOUPE_WORKERS: '6' });
    expect(Object.keys(c.services).sort()).toEqual(['postgres', 'web', 'worker', 'worker-gpu']);
    expect(c.services.worker.deploy.replicas).toBe(6);
    expect(load(composeText).services.worker.deploy.replicas).toBe(2);
    expect(c.services['worker-gpu'].profiles).toEqual(['gpu']);
    expect(c.services['worker-gpu'].environment.LOUPE_EXECUTION_PROVIDERS).toBe('cuda,cpu');
    expect(c.services['worker-gpu'].deploy.resources.reservations.devices[0].capabilities).toEqual(['gpu']);
    for (const w of [c.services.worker, c.services['worker-gpu']]) {
      expect(w.environment.LOUPE_URL).toBe('http://web:3000');
      expect(w.environment.LOUPE_DATA_DIR).toBe(c.services.web.environment.LOUPE_DATA_DIR);
      expect(w.volumes).toContain(`loupe-data:${c.services.web.environment.LOUPE_DATA_DIR}`);
    }
    expect(c.services.web.environment.DATABASE_URL).toBe(
      'postgresql://loupe:pw@postgres:5432/loupe?sslmode=disable',
    );
    expect(
      c.services['worker-gpu'].environment.LOUPE_JOB_KINDS.split(',').every((k: string) =>
        (jobKinds as readonly string[]).includes(k),
      ),
    ).toBe(true);
  });

  it('passes dclint, a compose linter, with no error or warning', () => {
    expect(lint(composeText)).toEqual([]);
  });

  it('refuses to start without a database password', () => {
    expect(() => load(composeText, {})).toThrow('POSTGRES_PASSWORD: set POSTGRES_PASSWORD');
  });
});

describe('the compose checks fail on broken copies', () => {
  it('schema: a misspelt top-level key, a bad depends_on condition, a misspelt service key', () => {
    const broken = composeText
      .replace(/^volumes:/m, 'volume:')
      .replace('condition: service_healthy', 'condition: healthy')
      .replace('stop_grace_period: 150s', 'stop_grace: 150s');
    const p = schemaProblems(load(broken));
    expect(p).toEqual(
      expect.arrayContaining([
        '/ must NOT have additional properties',
        '/services/web/depends_on/postgres/condition must be equal to one of the allowed values',
        '/services/worker must NOT have additional properties',
      ]),
    );
  });

  it('references: an unknown service, an undeclared volume, a missing build stage', () => {
    const broken = composeText
      .replace('      postgres:\n        condition', '      database:\n        condition')
      .replace('- pgdata:/var/lib', '- pg-data:/var/lib')
      .replace('target: cpu', 'target: cpu-slim');
    expect(referenceProblems(load(broken))).toEqual([
      'postgres: volume pg-data is not declared',
      'web: depends on unknown service database',
      'worker: infra/docker/Dockerfile.worker has no stage cpu-slim',
    ]);
    const noHealth = load(composeText);
    delete noHealth.services.web.healthcheck;
    expect(referenceProblems(noHealth)).toEqual([
      'worker: waits for web to be healthy, but it has no healthcheck',
      'worker-gpu: waits for web to be healthy, but it has no healthcheck',
    ]);
  });

  it('lint: an image beside a build, a port bound to every interface', () => {
    const broken = composeText
      .replace(
        '    build:\n      context: ../..\n      dockerfile: infra/docker/Dockerfile.web',
        '    image: loupe-web\n    build:\n      context: ../..\n      dockerfile: infra/docker/Dockerfile.web',
      )
      .replace('"127.0.0.1:', '"');
    const found = lint(broken);
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/: no-build-and-image$/),
        expect.stringMatching(/: no-unbound-port-interfaces$/),
      ]),
    );
  });

  it('interpolation: malformed references are errors', () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: compose syntax
    expect(() => interpolate('a: ${not valid}', {})).toThrow('invalid interpolation ${not valid}');
    // biome-ignore lint/suspicious/noTemplateCurlyInString: compose syntax
    expect(interpolate('a: $${X} ${Y-d} ${Z:-e}', { Z: '' })).toBe('a: ${X} d e');
  });
});
