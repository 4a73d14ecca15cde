import { Status } from './status';

export default function Home() {
  return (
    <main>
      <h1>Loupe</h1>
      <p className="lead">An AI microscope for language models: features, attribution graphs and interventions.</p>
      <Status />
    </main>
  );
}
