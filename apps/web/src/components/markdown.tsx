/**
 * A small Markdown subset for notes written by people and by the case-study export: headings, paragraphs
 * (line breaks kept), bullet and numbered lists, fenced code, and inline code, bold, italic and links. It
 * builds React elements only, so HTML in the text shows as text; links other than http(s), mailto and
 * same-site paths stay plain text.
 */
import { Fragment, type ReactNode } from 'react';

export type Inline =
  | string
  | { kind: 'code'; text: string }
  | { kind: 'strong' | 'em'; children: Inline[] }
  | { kind: 'link'; href: string; children: Inline[] };

export type Block =
  | { kind: 'heading'; level: number; children: Inline[] }
  | { kind: 'paragraph'; lines: Inline[][] }
  | { kind: 'list'; ordered: boolean; items: Inline[][] }
  | { kind: 'code'; text: string };

const SAFE_HREF = /^(https?:\/\/|mailto:|\/(?!\/)|#)/i;
// First match wins: code, bold, link, italic (a `*` run that does not open on a space).
const INLINE = /`([^`]+)`|\*\*(.+?)\*\*|\[([^\]]+)\]\(([^)\s]+)\)|\*(?!\s)([^*]+?)\*/;

export function parseInline(text: string): Inline[] {
  const out: Inline[] = [];
  let rest = text;
  for (let m = INLINE.exec(rest); m; m = INLINE.exec(rest)) {
    if (m.index > 0) out.push(rest.slice(0, m.index));
    const [whole, code, strong, label, href, em] = m;
    if (code !== undefined) out.push({ kind: 'code', text: code });
    else if (strong !== undefined) out.push({ kind: 'strong', children: parseInline(strong) });
    else if (label !== undefined)
      out.push(SAFE_HREF.test(href) ? { kind: 'link', href, children: parseInline(label) } : whole);
    else out.push({ kind: 'em', children: parseInline(em) });
    rest = rest.slice(m.index + whole.length);
  }
  if (rest) out.push(rest);
  return out;
}

const HEADING = /^(#{1,6})\s+(.*)$/;
const BULLET = /^\s*[-*+]\s+(.*)$/;
const NUMBERED = /^\s*\d+[.)]\s+(.*)$/;

export function parseMarkdown(source: string): Block[] {
  const lines = source.replace(/\r\n?/g, '\n').split('\n');
  const blocks: Block[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.trim() === '') {
      i++;
    } else if (line.trimStart().startsWith('```')) {
      const body: string[] = [];
      for (i++; i < lines.length && !lines[i].trimStart().startsWith('```'); i++) body.push(lines[i]);
      blocks.push({ kind: 'code', text: body.join('\n') });
      i++;
    } else if (HEADING.test(line)) {
      const [, hashes, text] = HEADING.exec(line) as RegExpExecArray;
      blocks.push({ kind: 'heading', level: hashes.length, children: parseInline(text.trim()) });
      i++;
    } else if (BULLET.test(line) || NUMBERED.test(line)) {
      const ordered = !BULLET.test(line);
      const item = ordered ? NUMBERED : BULLET;
      const items: Inline[][] = [];
      for (; i < lines.length && item.test(lines[i]); i++)
        items.push(parseInline((item.exec(lines[i]) as RegExpExecArray)[1]));
      blocks.push({ kind: 'list', ordered, items });
    } else {
      const para: Inline[][] = [];
      const starts = (l: string) =>
        l.trim() === '' ||
        HEADING.test(l) ||
        BULLET.test(l) ||
        NUMBERED.test(l) ||
        l.trimStart().startsWith('```');
      for (; i < lines.length && (para.length === 0 || !starts(lines[i])); i++)
        para.push(parseInline(lines[i]));
      blocks.push({ kind: 'paragraph', lines: para });
    }
  }
  return blocks;
}

function renderInline(nodes: Inline[]): ReactNode[] {
  return nodes.map((n, i) => {
    // Inline runs are rebuilt from the text on each render: their order is their identity.
    const key = i;
    if (typeof n === 'string') return n;
    if (n.kind === 'code') return <code key={key}>{n.text}</code>;
    if (n.kind !== 'link') {
      const Tag = n.kind;
      return <Tag key={key}>{renderInline(n.children)}</Tag>;
    }
    return (
      <a key={key} href={n.href} rel="noopener noreferrer nofollow">
        {renderInline(n.children)}
      </a>
    );
  });
}

function renderBlock(b: Block, key: number): ReactNode {
  switch (b.kind) {
    case 'heading': {
      // Notes sit under the page's own headings: # becomes h3, and so on down to h6.
      const H = `h${Math.min(6, b.level + 2)}` as 'h3' | 'h4' | 'h5' | 'h6';
      return <H key={key}>{renderInline(b.children)}</H>;
    }
    case 'paragraph':
      return (
        <p key={key}>
          {b.lines.map((l, j) => (
            // biome-ignore lint/suspicious/noArrayIndexKey: lines rebuilt from the text, in order
            <Fragment key={j}>
              {j > 0 ? <br /> : null}
              {renderInline(l)}
            </Fragment>
          ))}
        </p>
      );
    case 'list': {
      const items = b.items.map((it, j) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: list items rebuilt from the text, in order
        <li key={j}>{renderInline(it)}</li>
      ));
      return b.ordered ? <ol key={key}>{items}</ol> : <ul key={key}>{items}</ul>;
    }
    case 'code':
      return (
        <pre key={key}>
          <code>{b.text}</code>
        </pre>
      );
  }
}

/** `source` as Markdown, without raw HTML. */
export function Markdown({ source }: { source: string }) {
  return <>{parseMarkdown(source).map(renderBlock)}</>;
}
