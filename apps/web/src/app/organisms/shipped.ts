/**
 * The shipped organisms' files, for pages that run a model in the browser. Only the catalogue's shipped entries
 * are listed, and a request is answered only with a file found in this listing by its key and exact name: no
 * part of a request URL is ever joined into a path.
 */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { discoverShippedCatalog } from '@loupe/api';
import { repoRoot } from '../../server/repo-root';

export interface ShippedEntry {
  /** Catalogue key: `organism-m` for a model, `organism-m/plt` for a dictionary. */
  key: string;
  dir: string;
  files: Map<string, { path: string; size: number; mtimeMs: number }>;
}

/** File name → size in bytes: pages need sizes up front (Range reads), and cannot list a folder. */
type FileSizes = Record<string, number>;

export interface OrganismManifest {
  models: { key: string; files: FileSizes; dictionaries: { key: string; files: FileSizes }[] }[];
}

const fileName = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

function entry(key: string, dir: string): ShippedEntry {
  const files: ShippedEntry['files'] = new Map();
  for (const name of readdirSync(/*turbopackIgnore: true*/ dir).sort()) {
    if (!fileName.test(name)) continue;
    const full = path.join(dir, name);
    const st = statSync(/*turbopackIgnore: true*/ full);
    if (st.isFile()) files.set(name, { path: full, size: st.size, mtimeMs: st.mtimeMs });
  }
  return { key, dir, files };
}

const sizes = (e: ShippedEntry): FileSizes =>
  Object.fromEntries([...e.files].map(([name, f]) => [name, f.size]));

let cached: { entries: Map<string, ShippedEntry>; manifest: OrganismManifest } | null = null;

/** Read once per process: the shipped files change only with a new deployment. */
export function shippedOrganisms(): { entries: Map<string, ShippedEntry>; manifest: OrganismManifest } {
  if (cached) return cached;
  const entries = new Map<string, ShippedEntry>();
  const manifest: OrganismManifest = { models: [] };
  for (const m of discoverShippedCatalog(path.join(repoRoot(), 'packages/organism/models'))) {
    const model = entry(m.key, m.path);
    entries.set(m.key, model);
    const dictionaries = m.dictionaries.map((d) => {
      const e = entry(d.key, d.path);
      entries.set(d.key, e);
      return { key: d.key, files: sizes(e) };
    });
    manifest.models.push({ key: m.key, files: sizes(model), dictionaries });
  }
  cached = { entries, manifest };
  return cached;
}
