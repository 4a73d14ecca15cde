'use client';

import { useMutation, useQuery } from '@tanstack/react-query';
import { useRouter } from 'next/navigation';
import { Dialog } from 'radix-ui';
import {
  cloneElement,
  type FormEvent,
  type ReactElement,
  type ReactNode,
  useCallback,
  useId,
  useState,
} from 'react';
import { useTRPC } from '@/trpc/client';
import { DialogActions } from './dialog-actions';
import { ErrorBox, Progress } from './status';
import { useTeam } from './team-shell';
import { JobProgress } from './trace-progress';

type TargetKind = 'salient' | 'tokens' | 'diff';

/** Numbers typed in the form: blank means "the tracer's default", anything else must parse. */
function optionalNumber(f: FormData, name: string): number | undefined {
  const raw = String(f.get(name) ?? '').trim();
  return raw === '' ? undefined : Number(raw);
}

/**
 * "New investigation": a prompt, a model and a dictionary from the team's catalogue and circuit-tracer's
 * tracing options → an attribution job whose progress shows here; the investigation opens when its graph is ready.
 */
export function NewInvestigation() {
  const [open, setOpen] = useState(false);
  return (
    <Dialog.Root open={open} onOpenChange={setOpen}>
      <Dialog.Trigger asChild>
        <button type="button" className="primary">
          New investigation
        </button>
      </Dialog.Trigger>
      <Dialog.Portal>
        <Dialog.Overlay className="dialog-overlay" />
        <Dialog.Content className="dialog" aria-describedby={undefined}>
          <Dialog.Title>New investigation</Dialog.Title>
          {open ? <TraceForm /> : null}
        </Dialog.Content>
      </Dialog.Portal>
    </Dialog.Root>
  );
}

function TraceForm() {
  const trpc = useTRPC();
  const team = useTeam();
  const router = useRouter();
  const ids = { title: useId(), prompt: useId() };
  const catalog = useQuery(trpc.catalog.list.queryOptions({ teamId: team.id }));
  const models = catalog.data?.models ?? [];
  const [modelId, setModelId] = useState<string>('');
  const model = models.find((m) => m.id === modelId) ?? models[0];
  const [dictionaryId, setDictionaryId] = useState<string>('');
  const dictionary = model?.dictionaries.find((d) => d.id === dictionaryId) ?? model?.dictionaries[0];
  const [targets, setTargets] = useState<TargetKind>('salient');
  const trace = useMutation(trpc.investigations.trace.mutationOptions());
  const opened = trace.data?.investigation.id;
  const onSucceeded = useCallback(() => {
    if (opened) router.push(`/t/${team.id}/i/${opened}`);
  }, [opened, router, team.id]);

  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    if (!model || !dictionary) return;
    const f = new FormData(e.currentTarget);
    const text = (name: string) => String(f.get(name) ?? '').trim();
    trace.mutate({
      teamId: team.id,
      title: text('title'),
      prompt: String(f.get('prompt') ?? ''),
      modelId: model.id,
      dictionaryId: dictionary.id,
      options: {
        maxFeatureNodes: optionalNumber(f, 'maxFeatureNodes'),
        includeInactive: optionalNumber(f, 'includeInactive'),
        nodeThreshold: optionalNumber(f, 'nodeThreshold'),
        edgeThreshold: optionalNumber(f, 'edgeThreshold'),
        ...(targets === 'salient'
          ? {
              maxNLogits: optionalNumber(f, 'maxNLogits'),
              desiredLogitProb: optionalNumber(f, 'desiredLogitProb'),
              targets: { kind: 'salient' as const },
            }
          : targets === 'tokens'
            ? {
                targets: {
                  kind: 'tokens' as const,
                  tokens: text('tokens')
                    .split(',')
                    .map((t) => t.trim())
                    .filter((t) => t !== ''),
                },
              }
            : { targets: { kind: 'diff' as const, a: text('diffA'), b: text('diffB') } }),
      },
    });
  };

  if (catalog.isPending) return <Progress label="Loading the model catalogue" />;
  if (catalog.isError) return <ErrorBox error={catalog.error} retry={() => catalog.refetch()} />;
  if (trace.data)
    return (
      <div className="stack">
        <p>
          Tracing <strong>{trace.data.investigation.title}</strong> on {model?.name} with {dictionary?.name}.
          The investigation opens when its graph is ready.
        </p>
        <JobProgress jobId={trace.data.job.id} onSucceeded={onSucceeded} />
        <div className="row">
          <span className="spacer" />
          <button type="button" onClick={() => router.push(`/t/${team.id}/i/${trace.data.investigation.id}`)}>
            Open now
          </button>
        </div>
      </div>
    );

  return (
    <form className="stack" onSubmit={submit}>
      <label className="field" htmlFor={ids.title}>
        Title
      </label>
      <input id={ids.title} name="title" required maxLength={300} placeholder="Two-digit addition" />
      <label className="field" htmlFor={ids.prompt}>
        Prompt
      </label>
      <textarea id={ids.prompt} name="prompt" required rows={2} maxLength={20_000} className="mono" />
      <div className="grid2">
        <Picker
          label="Model"
          value={model?.id ?? ''}
          onChange={(id) => {
            setModelId(id);
            setDictionaryId('');
          }}
          options={models.map((m) => ({ id: m.id, text: `${m.name} · ${m.nLayers} layers · d=${m.dModel}` }))}
        />
        <Picker
          label="Dictionary"
          value={dictionary?.id ?? ''}
          onChange={setDictionaryId}
          options={(model?.dictionaries ?? []).map((d) => ({
            id: d.id,
            text: `${d.name} (${d.kind.toUpperCase()})`,
          }))}
        />
      </div>
      {models.length === 0 ? (
        <div role="alert" className="error">
          This team's catalogue has no models yet. Start the worker and web app with `npm start` to load the
          shipped organisms.
        </div>
      ) : null}
      <fieldset className="stack">
        <legend>Tracing options</legend>
        <div className="grid2">
          <Field label="Max feature nodes" hint="features computed, in order of influence">
            <input name="maxFeatureNodes" type="number" min={1} max={1_000_000} step={1} placeholder="all" />
          </Field>
          <Field
            label="Inactive features"
            hint="per layer and position, the most inhibited features that do not fire, shown with their inhibition"
          >
            <input name="includeInactive" type="number" min={0} max={64} step={1} placeholder="0" />
          </Field>
          <Field label="Node threshold" hint="share of cumulative influence kept when pruning nodes">
            <input name="nodeThreshold" type="number" min={0} max={1} step="any" placeholder="0.8" />
          </Field>
          <Field label="Edge threshold" hint="share of cumulative influence kept when pruning edges">
            <input name="edgeThreshold" type="number" min={0} max={1} step="any" placeholder="0.98" />
          </Field>
        </div>
        <div role="radiogroup" aria-label="Targets" className="stack" style={{ gap: 6 }}>
          <span className="muted">Targets</span>
          <TargetOption
            kind="salient"
            chosen={targets}
            onChoose={setTargets}
            label="Top logits by cumulative probability"
            grid
          >
            <Labelled label="Max logits">
              <input name="maxNLogits" type="number" min={1} max={1000} step={1} placeholder="10" />
            </Labelled>
            <Labelled label="Cumulative probability">
              <input name="desiredLogitProb" type="number" min={0} max={1} step="any" placeholder="0.95" />
            </Labelled>
          </TargetOption>
          <TargetOption kind="tokens" chosen={targets} onChoose={setTargets} label="Chosen tokens">
            <Field label="Tokens" hint="comma-separated output tokens">
              <input name="tokens" required placeholder="95, 96" className="mono" />
            </Field>
          </TargetOption>
          <TargetOption
            kind="diff"
            chosen={targets}
            onChoose={setTargets}
            label="Logit difference of two tokens"
            grid
          >
            <Labelled label="Token A">
              <input name="diffA" required className="mono" />
            </Labelled>
            <Labelled label="Token B">
              <input name="diffB" required className="mono" />
            </Labelled>
          </TargetOption>
        </div>
      </fieldset>
      {trace.error ? <ErrorBox error={trace.error} /> : null}
      <DialogActions close="Cancel">
        <button type="submit" className="primary" disabled={trace.isPending || !model || !dictionary}>
          Trace
        </button>
      </DialogActions>
    </form>
  );
}

/** One way to choose the traced targets: its radio, and its own inputs while it is the chosen one. */
function TargetOption({
  kind,
  chosen,
  onChoose,
  label,
  grid = false,
  children,
}: {
  kind: TargetKind;
  chosen: TargetKind;
  onChoose: (kind: TargetKind) => void;
  label: string;
  /** Two inputs side by side. */
  grid?: boolean;
  children: ReactNode;
}) {
  return (
    <>
      <label className="row">
        <input type="radio" name="targets" checked={chosen === kind} onChange={() => onChoose(kind)} />
        {label}
      </label>
      {chosen === kind ? (
        <div className={grid ? 'grid2' : undefined} style={{ paddingLeft: 22 }}>
          {children}
        </div>
      ) : null}
    </>
  );
}

/** A labelled choice of one catalogue entry (a model, a dictionary). */
function Picker({
  label,
  value,
  onChange,
  options,
}: {
  label: string;
  value: string;
  onChange: (id: string) => void;
  options: { id: string; text: string }[];
}) {
  const id = useId();
  return (
    <div className="stack" style={{ gap: 3 }}>
      <label className="field" htmlFor={id}>
        {label}
      </label>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value)}>
        {options.map((o) => (
          <option key={o.id} value={o.id}>
            {o.text}
          </option>
        ))}
      </select>
    </div>
  );
}

function Labelled({ label, children }: { label: string; children: ReactNode }) {
  return (
    <label className="field">
      {label}
      {children}
    </label>
  );
}

/** A labelled input with a hint below it; the hint describes the input instead of lengthening its name. */
function Field({
  label,
  hint,
  children,
}: {
  label: string;
  hint: string;
  children: ReactElement<{ 'aria-describedby'?: string }>;
}) {
  const hintId = useId();
  return (
    <div className="stack" style={{ gap: 2 }}>
      <label className="field">
        {label}
        {cloneElement(children, { 'aria-describedby': hintId })}
      </label>
      <span id={hintId} className="small muted">
        {hint}
      </span>
    </div>
  );
}
