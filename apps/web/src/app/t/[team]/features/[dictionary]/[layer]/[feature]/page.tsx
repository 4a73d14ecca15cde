import { FeaturePage } from '@/components/feature/feature-page';

export default async function Feature({
  params,
}: {
  params: Promise<{ dictionary: string; layer: string; feature: string }>;
}) {
  const { dictionary, layer, feature } = await params;
  return <FeaturePage dictionaryId={dictionary} layer={Number(layer)} featureIndex={Number(feature)} />;
}
