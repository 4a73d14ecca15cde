import type { Metadata } from 'next';
import { GraphBench } from './GraphBench';

export const metadata: Metadata = { title: 'Graph rendering benchmark · Loupe' };

/** 5,000 nodes and 50,000 edges drawn whole; the figures land on window.__graphBench. */
export default function GraphBenchPage() {
  return <GraphBench nodes={5000} links={50000} />;
}
