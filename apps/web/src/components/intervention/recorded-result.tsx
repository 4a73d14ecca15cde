'use client';

import { z } from 'zod';
import { DataTable } from '../data-table';

/** An experiment recorded elsewhere (a case study's intervention table), kept as its table of numbers. */
export interface RecordedTable {
  title: string;
  header: string[];
  rows: (string | number)[][];
}

const recordedSpec = z.object({
  source: z.literal('case-study'),
  table: z.string(),
  header: z.array(z.string()),
});
const recordedResult = z.object({ rows: z.array(z.array(z.union([z.string(), z.number()]))) });

/** The table a case-study experiment recorded, or null for any other experiment. */
export function recordedTable(spec: unknown, result: unknown): RecordedTable | null {
  const s = recordedSpec.safeParse(spec);
  const r = recordedResult.safeParse(result);
  return s.success && r.success ? { title: s.data.table, header: s.data.header, rows: r.data.rows } : null;
}

export function RecordedResult({ table }: { table: RecordedTable }) {
  return (
    <section role="region" aria-label="Recorded result" className="stack small">
      <strong>{table.title}</strong>
      <DataTable
        columns={table.header.map((h, i) => (table.header.indexOf(h) === i ? h : `${h} (${i + 1})`))}
      >
        {table.rows.map((row, i) => (
          // Rows are fixed once recorded: their order is their identity.
          // biome-ignore lint/suspicious/noArrayIndexKey: see above
          <tr key={i}>
            {row.map((cell, j) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: cells of a fixed row
              <td key={j}>{cell}</td>
            ))}
          </tr>
        ))}
      </DataTable>
    </section>
  );
}
