import { InvestigationsHome } from '@/components/investigations-home';

export default function TeamHome() {
  return <InvestigationsHome />;
}
