import type { ShippedOrganism } from '@loupe/organism/node';
import type { Claim, Measurement, Table } from './claims.ts';
import type { DictionaryKind, Subject } from './subject.ts';

export interface Measured {
  measurements: Record<string, Measurement>;
  tables: Table[];
  /** The case's graph rendered for the docs. */
  svg?: string;
}

/** One investigation: its claims, stated before any run, and how to measure them on a subject. */
export interface CaseStudy {
  name: string;
  title: string;
  claims: Claim[];
  settings: readonly (readonly [ShippedOrganism, DictionaryKind])[];
  measure(s: Subject, log: (line: string) => void): Promise<Measured>;
  /** Claims that compare settings, measured from every setting's measurements. */
  across?(bySetting: ReadonlyMap<string, Record<string, Measurement>>): Record<string, Measurement>;
}

export const ALL_SETTINGS = [
  ['organism-s', 'plt'],
  ['organism-s', 'clt'],
  ['organism-m', 'plt'],
  ['organism-m', 'clt'],
] as const;
