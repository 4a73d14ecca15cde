import type { ReactNode } from 'react';
import { TeamShell } from '@/components/team-shell';

export default async function TeamLayout({
  children,
  params,
}: {
  children: ReactNode;
  params: Promise<{ team: string }>;
}) {
  const { team } = await params;
  return <TeamShell teamId={team}>{children}</TeamShell>;
}
