import { InvestigationPage } from '@/components/investigation/investigation-page';

export default async function Investigation({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  return <InvestigationPage id={id} />;
}
