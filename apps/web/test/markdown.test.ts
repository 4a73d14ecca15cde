import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { Markdown, parseInline, parseMarkdown } from '../src/components/markdown.tsx';

const html = (source: string) => renderToStaticMarkup(createElement(Markdown, { source }));

describe('notes Markdown', () => {
  it('reads headings, paragraphs with their line breaks, lists and fenced code', () => {
    const blocks = parseMarkdown(
      '# Title\n\nMetric: rate.\nCriterion: >= 0.3.\n\n- a: **supported**\n- b: not supported\n\n1. one\n2. two\n\n```\nx < y\n```',
    );
    expect(blocks.map((b) => b.kind)).toEqual(['heading', 'paragraph', 'list', 'list', 'code']);
    expect(html('# Title\n\nMetric: rate.\nCriterion: >= 0.3.')).toBe(
      '<h3>Title</h3><p>Metric: rate.<br/>Criterion: &gt;= 0.3.</p>',
    );
    expect(html('- a: **supported**\n- b')).toBe('<ul><li>a: <strong>supported</strong></li><li>b</li></ul>');
    expect(html('1. one\n2. two')).toBe('<ol><li>one</li><li>two</li></ol>');
    expect(html('```\nx < y\n```')).toBe('<pre><code>x &lt; y</code></pre>');
  });

  it('reads inline code, bold, italic and links', () => {
    expect(parseInline('run `pnpm x` then *look*')).toEqual([
      'run ',
      { kind: 'code', text: 'pnpm x' },
      ' then ',
      { kind: 'em', children: ['look'] },
    ]);
    expect(html('see [the docs](https://example.com/a)')).toBe(
      '<p>see <a href="https://example.com/a" rel="noopener noreferrer nofollow">the docs</a></p>',
    );
    // A lone star (a product, a wildcard) stays text.
    expect(html('2 * 3 = 6')).toBe('<p>2 * 3 = 6</p>');
  });

  it('shows HTML and unsafe links as text', () => {
    expect(html('<img src=x onerror=alert(1)> <script>x</script>')).toBe(
      '<p>&lt;img src=x onerror=alert(1)&gt; &lt;script&gt;x&lt;/script&gt;</p>',
    );
    expect(html('[click](javascript:alert(1))')).toBe('<p>[click](javascript:alert(1))</p>');
    expect(html('[x](//evil.example)')).toBe('<p>[x](//evil.example)</p>');
  });
});
