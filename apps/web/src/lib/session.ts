'use client';

import { useQuery } from '@tanstack/react-query';
import { useTRPC } from '@/trpc/client';

const lastTeamKey = 'loupe:lastTeam';

/** The signed-in user, or null when signed out. */
export function useMe() {
  const trpc = useTRPC();
  return useQuery(trpc.auth.me.queryOptions(undefined, { staleTime: 60_000 }));
}

export function rememberTeam(teamId: string): void {
  try {
    localStorage.setItem(lastTeamKey, teamId);
  } catch {
    // Private windows may refuse storage; the team is then picked from the list each time.
  }
}

export function lastTeam(): string | null {
  try {
    return localStorage.getItem(lastTeamKey);
  } catch {
    return null;
  }
}
