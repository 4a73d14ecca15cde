import { readFileSync } from 'node:fs';
import { ScaledObject, TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1';
import { Namespace, PersistentVolumeClaim, Secret, Service } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';

// biome-ignore lint/suspicious/noExplicitAny: a manifest is whatever YAML holds until its schema says otherwise
type Json = any;

/** The kinds Loupe deploys, each with the model whose validate() checks it against its JSON schema. */
const models: Record<string, new (data: Json) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'networking.k8s.io/v1/Ingress': Ingress,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
  'keda.sh/v1alpha1/TriggerAuthentication': TriggerAuthentication,
};

/** Parses multi-document YAML; a syntax error is a problem, not an exception. */
export function parseDocs(text: string, problems: string[]): Json[] {
  const docs: Json[] = [];
  for (const doc of parseAllDocuments(text)) {
    for (const e of doc.errors) problems.push(`YAML: ${e.message}`);
    const value = doc.toJS();
    if (value !== null && value !== undefined) docs.push(value);
  }
  return docs;
}

const id = (o: Json) => `${o?.kind ?? '?'}/${o?.metadata?.name ?? '?'}`;

/** Checks each object against the Kubernetes (or KEDA) schema for its apiVersion and kind. */
export function schemaProblems(objects: readonly Json[]): string[] {
  const problems: string[] = [];
  for (const o of objects) {
    const Model = models[`${o?.apiVersion}/${o?.kind}`];
    if (!Model) {
      problems.push(`${id(o)}: no schema for apiVersion ${o?.apiVersion} kind ${o?.kind}`);
      continue;
    }
    try {
      new Model(o).validate();
    } catch (e) {
      problems.push(`${id(o)}: ${(e as Error).message}`);
    }
  }
  return problems;
}

const podSpecOf = (o: Json): Json =>
  o.kind === 'Deployment' || o.kind === 'StatefulSet' ? o.spec?.template?.spec : undefined;

/**
 * What the API server or the controllers would only say after an apply: references between the objects
 * (Secrets and their keys, Services and their pods' ports, Ingress backends, scale targets), selectors that
 * select their own pods, and one namespace for everything.
 */
export function referenceProblems(objects: readonly Json[], secrets: readonly Json[]): string[] {
  const problems: string[] = [];
  const byKind = (kind: string) => objects.filter((o) => o.kind === kind);
  const named = (kind: string, name: string) => byKind(kind).find((o) => o.metadata?.name === name);
  const secretKeys = new Map<string, Set<string>>(
    secrets.map((s) => [s.metadata?.name, new Set(Object.keys({ ...s.data, ...s.stringData }))]),
  );
  const secretKey = (where: string, name: string, key: string) => {
    if (!secretKeys.get(name)?.has(key)) problems.push(`${where}: Secret ${name} has no key ${key}`);
  };
  const workloads = objects.filter(podSpecOf);

  const namespaces = byKind('Namespace').map((n) => n.metadata.name);
  for (const o of objects) {
    if (o.kind !== 'Namespace' && !namespaces.includes(o.metadata?.namespace))
      problems.push(`${id(o)}: namespace ${o.metadata?.namespace} is not one this file creates`);
  }

  for (const w of workloads) {
    const labels = w.spec.template.metadata?.labels ?? {};
    for (const [k, v] of Object.entries(w.spec.selector?.matchLabels ?? {})) {
      if (labels[k] !== v) problems.push(`${id(w)}: selector ${k}=${v} does not match its pod template`);
    }
    for (const c of [...(podSpecOf(w).containers ?? []), ...(podSpecOf(w).initContainers ?? [])]) {
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef;
        if (ref) secretKey(`${id(w)} env ${e.name}`, ref.name, ref.key);
      }
      const volumes = [
        ...(podSpecOf(w).volumes ?? []).map((v: Json) => v.name),
        ...(w.spec.volumeClaimTemplates ?? []).map((v: Json) => v.metadata?.name),
      ];
      for (const v of podSpecOf(w).volumes ?? []) {
        const claim = v.persistentVolumeClaim?.claimName;
        if (claim && !named('PersistentVolumeClaim', claim))
          problems.push(`${id(w)}: volume ${v.name} claims ${claim}, which is not here`);
      }
      for (const m of c.volumeMounts ?? []) {
        if (!volumes.includes(m.name)) problems.push(`${id(w)}: mount ${m.name} names no volume of the pod`);
      }
      for (const probe of [c.startupProbe, c.readinessProbe, c.livenessProbe]) {
        const port = probe?.httpGet?.port;
        if (typeof port === 'string' && !(c.ports ?? []).some((p: Json) => p.name === port))
          problems.push(`${id(w)}: probe port ${port} is not a port of container ${c.name}`);
      }
    }
    if (w.kind === 'StatefulSet' && !named('Service', w.spec.serviceName))
      problems.push(`${id(w)}: serviceName ${w.spec.serviceName} is no Service here`);
  }

  for (const s of byKind('Service')) {
    const selected = workloads.filter((w) =>
      Object.entries(s.spec?.selector ?? {}).every(([k, v]) => w.spec.template.metadata?.labels?.[k] === v),
    );
    if (selected.length === 0) problems.push(`${id(s)}: selects no pods`);
    for (const p of s.spec?.ports ?? []) {
      if (typeof p.targetPort !== 'string') continue;
      const served = selected.some((w) =>
        podSpecOf(w).containers.some((c: Json) =>
          (c.ports ?? []).some((cp: Json) => cp.name === p.targetPort),
        ),
      );
      if (!served) problems.push(`${id(s)}: targetPort ${p.targetPort} is not a port of the pods it selects`);
    }
  }

  for (const ing of byKind('Ingress')) {
    for (const rule of ing.spec?.rules ?? []) {
      for (const path of rule.http?.paths ?? []) {
        const b = path.backend?.service;
        const svc = b && named('Service', b.name);
        if (!svc) problems.push(`${id(ing)}: backend Service ${b?.name} is not here`);
        else if (b.port?.name && !svc.spec.ports.some((p: Json) => p.name === b.port.name))
          problems.push(`${id(ing)}: Service ${b.name} has no port ${b.port.name}`);
      }
    }
  }

  for (const so of [...byKind('ScaledObject'), ...byKind('HorizontalPodAutoscaler')]) {
    const target = so.spec?.scaleTargetRef?.name;
    if (!named('Deployment', target))
      problems.push(`${id(so)}: scale target Deployment ${target} is not here`);
    for (const t of so.spec?.triggers ?? []) {
      const auth = t.authenticationRef?.name;
      if (auth && !named('TriggerAuthentication', auth))
        problems.push(`${id(so)}: TriggerAuthentication ${auth} is not here`);
    }
  }
  for (const ta of byKind('TriggerAuthentication')) {
    for (const ref of ta.spec?.secretTargetRef ?? []) secretKey(id(ta), ref.name, ref.key);
  }
  return problems;
}

/** Everything wrong with a manifest file, given the Secrets it refers to; empty when it is deployable. */
export function manifestProblems(text: string, secretsText: string): string[] {
  const problems: string[] = [];
  const objects = parseDocs(text, problems);
  const secrets = parseDocs(secretsText, problems);
  return [
    ...problems,
    ...schemaProblems(objects),
    ...schemaProblems(secrets),
    ...referenceProblems(objects, secrets),
  ];
}

// `tsx infra/k8s/validate.ts MANIFESTS.yaml SECRETS.yaml` checks an edited copy before it is applied.
if (import.meta.filename === process.argv[1]) {
  const [manifests, secrets] = process.argv.slice(2);
  if (!manifests || !secrets) {
    console.error('usage: tsx infra/k8s/validate.ts MANIFESTS.yaml SECRETS.yaml');
    process.exit(2);
  }
  const problems = manifestProblems(readFileSync(manifests, 'utf8'), readFileSync(secrets, 'utf8'));
  for (const p of problems) console.error(p);
  console.log(problems.length === 0 ? `${manifests}: valid` : `${manifests}: ${problems.length} problem(s)`);
  process.exit(problems.length === 0 ? 0 : 1);
}
