import type { ReactNode } from 'react';

/** An investigation's heading row: its title and prompt, then at its right the chips and actions given. */
export function InvestigationHeader({
  title,
  prompt,
  children,
}: {
  title: string;
  prompt: string;
  children: ReactNode;
}) {
  return (
    <div className="inv-header">
      <h1>{title}</h1>
      <span className="mono" title="Prompt">
        {prompt}
      </span>
      <span className="spacer" />
      {children}
    </div>
  );
}
