import { syntheticGraphJson } from '@loupe/core';
import type { APIRequestContext, BrowserContext } from 'playwright-core';

/** Calls a procedure over HTTP with the context's cookies, as the browser's own client would. */
export async function call<T>(
  request: APIRequestContext,
  url: string,
  proc: string,
  input: unknown,
  query = false,
): Promise<T> {
  const res = query
    ? await request.get(`${url}/api/trpc/${proc}?input=${encodeURIComponent(JSON.stringify(input))}`)
    : await request.post(`${url}/api/trpc/${proc}`, { data: input });
  const body = (await res.json()) as { result?: { data: T }; error?: unknown };
  if (!res.ok() || !body.result)
    throw new Error(`${proc}: HTTP ${res.status()} ${JSON.stringify(body.error)}`);
  return body.result.data;
}

/** Through the API: Olive Owner's team "Circuits" with Eddie Editor invited as an editor; returns the team id. */
export async function ownerAndEditorTeam(
  owner: BrowserContext,
  editor: BrowserContext,
  url: string,
): Promise<string> {
  await call(owner.request, url, 'auth.signUp', {
    email: 'olive@example.com',
    password: 'correct horse battery',
    name: 'Olive Owner',
  });
  const { id: teamId } = await call<{ id: string }>(owner.request, url, 'teams.create', { name: 'Circuits' });
  const invite = await call<{ token: string }>(owner.request, url, 'teams.createInvite', {
    teamId,
    role: 'editor',
  });
  await call(editor.request, url, 'auth.signUp', {
    email: 'eddie@example.com',
    password: 'another long password',
    name: 'Eddie Editor',
    inviteToken: invite.token,
  });
  return teamId;
}

/** The catalogue's shipped organism and its PLT, by the organism's key. */
export async function organismPlt(
  context: BrowserContext,
  url: string,
  teamId: string,
  key: string,
): Promise<{ modelId: string; dictionaryId: string }> {
  const catalog = await call<{
    models: { id: string; key: string | null; dictionaries: { id: string; kind: string }[] }[];
  }>(context.request, url, 'catalog.list', { teamId }, true);
  const model = catalog.models.find((m) => m.key === key);
  const dictionary = model?.dictionaries.find((d) => d.kind === 'plt');
  if (!model || !dictionary) throw new Error(`${key} and its PLT are not in the catalogue`);
  return { modelId: model.id, dictionaryId: dictionary.id };
}

/**
 * Through the API (the UI for it is tested elsewhere): the team of ownerAndEditorTeam and the investigation
 * "Capitals" on a stored synthetic graph of organism-s with its PLT.
 */
export async function ownerAndEditorInvestigation(
  owner: BrowserContext,
  editor: BrowserContext,
  url: string,
): Promise<{ teamId: string; investigationId: string; dictionaryId: string; featureNode: string }> {
  const teamId = await ownerAndEditorTeam(owner, editor, url);
  const { modelId, dictionaryId } = await organismPlt(owner, url, teamId, 'organism-s');
  const graph = syntheticGraphJson({ nodes: 300, links: 3000, seed: 11 });
  const featureNode = (
    graph.nodes.find((n) => n.feature_type === 'cross layer transcoder') as { node_id: string }
  ).node_id;
  const stored = await call<{ id: string }>(owner.request, url, 'graphs.create', {
    teamId,
    prompt: 'The capital of France is',
    modelId,
    dictionaryId,
    graph,
  });
  const inv = await call<{ id: string }>(owner.request, url, 'investigations.create', {
    teamId,
    title: 'Capitals',
    prompt: 'The capital of France is',
    modelId,
    dictionaryId,
    graphId: stored.id,
  });
  return { teamId, investigationId: inv.id, dictionaryId, featureNode };
}
