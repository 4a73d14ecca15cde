import { SharedInvestigation } from '@/components/share/shared-investigation';

export const metadata = { title: 'Shared investigation · Loupe', referrer: 'no-referrer' };

export default function SharePage() {
  return <SharedInvestigation />;
}
