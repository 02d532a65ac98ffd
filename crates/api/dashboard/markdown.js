// A small, safe Markdown subset for synthesis reports, built node by node:
// headings (# to ####), "- " / "* " bullets, "1. " lists, "> " quotes,
// pipe tables, paragraphs, **bold** and `code`. Anything else is shown as
// the text it is; API paths (/api/...) become links. Quotes ("> ") are
// plain text: they carry what people and agents wrote.

import { h, apiUrl } from './dom.js';

// Markdown's ways of saying "this character, literally": a backslash before
// a mark (\*, \_, \|, ...) and the entities &lt; &gt; &amp; &quot; &#39;. The
// report writes people's text that way. Escaped marks are swapped for
// private-use characters while the markup is parsed, then restored as text.
const ESCAPABLE = /\\([\\`*_[\]|#>-])/g;
const PROTECTED = /[\uE000-\uE07F]/g;
const ENTITY = /&(lt|gt|amp|quot|#39);/g;
const ENTITIES = { '&lt;': '<', '&gt;': '>', '&amp;': '&', '&quot;': '"', '&#39;': "'" };

function protect(text) {
  return text.replace(ESCAPABLE, (_, c) => String.fromCharCode(0xe000 + c.charCodeAt(0)));
}

function restore(text) {
  return text
    .replace(PROTECTED, (c) => String.fromCharCode(c.charCodeAt(0) - 0xe000))
    .replace(ENTITY, (e) => ENTITIES[e]);
}

/** Inline: **bold**, `code`, and /api/ paths as links; the rest as text. */
function inline(text) {
  const out = [];
  const re = /(\*\*[^*]+\*\*|`[^`]+`|\/api\/[^\s)"'<>]+)/g;
  let last = 0;
  let m;
  while ((m = re.exec(text)) !== null) {
    if (m.index > last) out.push(restore(text.slice(last, m.index)));
    const tok = m[0];
    if (tok.startsWith('**')) out.push(h('strong', null, restore(tok.slice(2, -2))));
    else if (tok.startsWith('`')) out.push(h('code', null, restore(tok.slice(1, -1))));
    else {
      const path = restore(tok);
      const url = apiUrl(path.replace(/[.,;:]+$/, ''));
      out.push(url ? h('a', { href: url, target: '_blank', rel: 'noopener' }, path) : path);
    }
    last = m.index + tok.length;
  }
  if (last < text.length) out.push(restore(text.slice(last)));
  return out;
}

function cells(line) {
  let s = line.trim();
  if (s.startsWith('|')) s = s.slice(1);
  if (s.endsWith('|')) s = s.slice(0, -1);
  return s.split('|').map((c) => c.trim());
}

const isTableSep = (line) => /^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$/.test(line);

/** Renders `markdown` into a <div class="markdown">; `level` is the h-level of "#". */
export function renderMarkdown(markdown, level = 3) {
  const root = h('div', { class: 'markdown' });
  const lines = protect(String(markdown || '')).replace(/\r\n?/g, '\n').split('\n');
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      i++;
      continue;
    }
    const heading = /^(#{1,4})\s+(.*)$/.exec(line);
    if (heading) {
      const lv = Math.min(6, level + heading[1].length - 1);
      root.appendChild(h(`h${lv}`, null, inline(heading[2])));
      i++;
      continue;
    }
    if (/^\s*[-*]\s+/.test(line)) {
      const ul = h('ul');
      while (i < lines.length && /^\s*[-*]\s+/.test(lines[i])) {
        ul.appendChild(h('li', null, inline(lines[i].replace(/^\s*[-*]\s+/, ''))));
        i++;
      }
      root.appendChild(ul);
      continue;
    }
    if (/^\s*\d+[.)]\s+/.test(line)) {
      const ol = h('ol');
      while (i < lines.length && /^\s*\d+[.)]\s+/.test(lines[i])) {
        ol.appendChild(h('li', null, inline(lines[i].replace(/^\s*\d+[.)]\s+/, ''))));
        i++;
      }
      root.appendChild(ol);
      continue;
    }
    if (/^\s*>/.test(line)) {
      // Quotes hold people's and agents' words (approver comments, captions):
      // plain text, no inline markup, the same as the Approver comments list.
      const quote = h('blockquote', { class: 'report-quote' });
      let para = [];
      const flush = () => {
        if (para.length) quote.appendChild(h('p', null, para.flatMap((l, k) => (k ? [h('br'), l] : [l]))));
        para = [];
      };
      while (i < lines.length && /^\s*>/.test(lines[i])) {
        const text = restore(lines[i].replace(/^\s*>\s?/, ''));
        if (text.trim()) para.push(text);
        else flush();
        i++;
      }
      flush();
      root.appendChild(quote);
      continue;
    }
    if (line.trim().startsWith('|') && i + 1 < lines.length && isTableSep(lines[i + 1])) {
      const head = cells(line);
      const aligns = cells(lines[i + 1]).map((c) => (c.endsWith(':') ? 'num' : null));
      i += 2;
      const body = [];
      while (i < lines.length && lines[i].trim().startsWith('|')) {
        body.push(cells(lines[i]));
        i++;
      }
      root.appendChild(h('div', { class: 'table-wrap' },
        h('table', { class: 'table compact' },
          h('thead', null, h('tr', null, head.map((c, k) => h('th', { scope: 'col', class: aligns[k] }, inline(c))))),
          h('tbody', null, body.map((r) => h('tr', null, r.map((c, k) => h('td', { class: aligns[k] }, inline(c)))))))));
      continue;
    }
    // A paragraph: consecutive plain lines, line breaks kept.
    const para = [];
    while (i < lines.length && lines[i].trim() && !/^(#{1,4}\s|\s*[-*]\s|\s*\d+[.)]\s|\s*>)/.test(lines[i])
      && !(lines[i].trim().startsWith('|') && i + 1 < lines.length && isTableSep(lines[i + 1]))) {
      para.push(lines[i]);
      i++;
    }
    root.appendChild(h('p', null, para.flatMap((l, k) => (k ? [h('br'), ...inline(l)] : inline(l)))));
  }
  return root;
}
