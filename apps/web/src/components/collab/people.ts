'use client';

import { useQuery } from '@tanstack/react-query';
import { useMemo } from 'react';
import { useTRPC } from '@/trpc/client';

/** The team's members by user id, for naming authors and actors. */
export function useMemberNames(teamId: string): ReadonlyMap<string, string> {
  const trpc = useTRPC();
  const members = useQuery(trpc.teams.members.queryOptions({ teamId }));
  return useMemo(() => new Map((members.data ?? []).map((m) => [m.userId, m.name])), [members.data]);
}

export function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  const letters =
    parts.length > 1 ? [parts[0][0], parts[parts.length - 1][0]] : [...(parts[0] ?? '?').slice(0, 2)];
  return letters.join('').toUpperCase();
}

/** A stable colour per user, so a person keeps their colour across screens. */
export function personColor(userId: string): string {
  let h = 0;
  for (const c of userId) h = (h * 31 + c.charCodeAt(0)) % 360;
  return `hsl(${h} 55% 45%)`;
}
