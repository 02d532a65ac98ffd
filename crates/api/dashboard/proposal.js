// Readable renderings of a gate's proposal, chosen by the gate's
// target_output_field (variants, post_caption, campaigns, drafts), with a
// generic rendering of any JSON for the others. Everything is text nodes.

import { h, apiUrl, money, humanize, platformName, count, labelCells } from './dom.js';

const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Long text with its line breaks kept (CSS white-space: pre-wrap). */
export function prose(text, cls = 'prose') {
  return h('div', { class: cls }, String(text ?? ''));
}

// ------------------------------------------------------------------- generic

/** Any JSON value as definition lists, lists and text, never raw JSON. */
export function renderValue(value, depth = 0) {
  if (value === null || value === undefined) return h('span', { class: 'muted' }, '—');
  if (typeof value === 'boolean') return h('span', null, value ? 'yes' : 'no');
  if (typeof value === 'number') return h('span', { class: 'num' }, String(value));
  if (typeof value === 'string') {
    const url = apiUrl(value);
    if (url) return h('a', { href: url, target: '_blank', rel: 'noopener' }, value);
    return value.length > 80 || value.includes('\n') ? prose(value) : h('span', null, value);
  }
  if (depth > 6) return h('code', null, JSON.stringify(value));
  if (Array.isArray(value)) {
    if (value.length === 0) return h('span', { class: 'muted' }, 'none');
    if (value.every((v) => v === null || typeof v !== 'object')) {
      return h('ul', { class: 'plain-list' }, value.map((v) => h('li', null, renderValue(v, depth + 1))));
    }
    return h('ol', { class: 'object-list' }, value.map((v) => h('li', null, renderValue(v, depth + 1))));
  }
  const entries = Object.entries(value);
  if (entries.length === 0) return h('span', { class: 'muted' }, 'empty');
  return h('dl', { class: 'kv' }, entries.flatMap(([k, v]) => [
    h('dt', null, humanize(k)),
    h('dd', null, k.endsWith('_usd') && typeof v === 'number' ? money(v) : renderValue(v, depth + 1)),
  ]));
}

/** The fields of `obj` not in `shown`, as a definition list (or nothing). */
function rest(obj, shown) {
  const extra = Object.fromEntries(Object.entries(obj).filter(([k]) => !shown.includes(k)));
  return Object.keys(extra).length ? renderValue(extra, 1) : null;
}

// ------------------------------------------------------------------ variants

function variantColumn(option, index) {
  if (!isObj(option)) return h('article', { class: 'variant' }, renderValue(option, 1));
  return h('article', { class: 'variant' },
    h('p', { class: 'eyebrow' }, option.angle ? String(option.angle) : `Option ${index + 1}`),
    option.title ? h('h4', { class: 'variant-title' }, String(option.title)) : null,
    Array.isArray(option.bullets) && option.bullets.length
      ? h('ul', { class: 'bullets' }, option.bullets.map((b) => h('li', null, String(b))))
      : null,
    option.description ? prose(option.description, 'prose variant-description') : null,
    Array.isArray(option.tags) && option.tags.length
      ? h('p', { class: 'tags' }, option.tags.map((t) => h('span', { class: 'tag' }, String(t))))
      : null,
    rest(option, ['angle', 'title', 'bullets', 'description', 'tags']));
}

/** Listing variants: per product, its options side by side. */
function renderVariants(variants) {
  if (!Array.isArray(variants)) return null;
  const grouped = variants.every((v) => isObj(v) && Array.isArray(v.options));
  if (!grouped) {
    return h('div', { class: 'variant-grid' }, variants.map(variantColumn));
  }
  return h('div', { class: 'variants' }, variants.map((product) =>
    h('section', { class: 'variant-product' },
      h('h3', { title: product.product_id || null }, String(product.product_name || product.product_id || 'Product'),
        Array.isArray(product.options) ? h('span', { class: 'muted small normal' }, ` · ${product.options.length} option${product.options.length === 1 ? '' : 's'}`) : null),
      h('div', { class: 'variant-grid' }, product.options.map(variantColumn)),
      rest(product, ['product_name', 'product_id', 'options']))));
}

// --------------------------------------------------------------- post caption

/** Text with #hashtags wrapped in <span class="hashtag">. */
export function withHashtags(text) {
  return String(text).split(/(#[\p{L}\p{N}_]+)/u).map((part, i) =>
    (i % 2 === 1 ? h('span', { class: 'hashtag' }, part) : part));
}

/** The rendered image of a post: from the proposal, else the trail's Studio entries. */
export function findAsset(card) {
  const p = card.proposal;
  const candidates = [];
  if (isObj(p)) candidates.push(p.asset_url);
  const trail = Array.isArray(card.reasoning_trail) ? card.reasoning_trail : [];
  for (const e of [...trail].reverse()) {
    if (isObj(e) && e.asset_url) candidates.push(e.asset_url);
  }
  return candidates.map(apiUrl).find(Boolean) || null;
}

function renderCaption(caption, card) {
  const text = typeof caption === 'string' ? caption : isObj(caption) ? caption.text : null;
  if (typeof text !== 'string') return null;
  const tags = isObj(caption) && Array.isArray(caption.hashtags) ? caption.hashtags.map(String) : [];
  const asset = findAsset(card);
  return h('div', { class: 'post-preview' },
    h('figure', { class: 'post-image' },
      asset
        ? h('img', { src: asset, alt: 'Rendered post image', loading: 'lazy' })
        : h('div', { class: 'no-image' }, 'No rendered image'),
      asset ? h('figcaption', null, h('a', { href: asset, target: '_blank', rel: 'noopener' }, 'Open the image')) : null),
    h('div', { class: 'post-text' },
      h('div', { class: 'caption', 'data-testid': 'caption' }, withHashtags(text)),
      tags.length
        ? h('p', { class: 'hashtags' },
          h('span', { class: 'muted small' }, `${tags.length} hashtag${tags.length === 1 ? '' : 's'}: `),
          tags.flatMap((t, i) => [i ? ' ' : null, h('span', { class: 'hashtag' }, t)]))
        : null,
      h('p', { class: 'muted small' }, `${text.length} characters`),
      isObj(caption) ? rest(caption, ['text', 'hashtags']) : null));
}

// ------------------------------------------------------------------ campaigns

function renderCampaigns(campaigns) {
  if (!Array.isArray(campaigns) || !campaigns.every(isObj)) return null;
  let daily = 0;
  let total = 0;
  const rows = campaigns.map((c) => {
    const d = Number(c.daily_budget_usd ?? c.daily_usd ?? 0);
    const days = c.days ?? null;
    const t = Number(c.total_usd ?? (days !== null ? d * days : 0));
    daily += d;
    total += t;
    const creative = isObj(c.creative) ? c.creative : null;
    const img = creative ? apiUrl(creative.asset_url) : null;
    return h('tr', null,
      h('td', { class: 'campaign-name', 'data-label': '' },
        h('div', { class: 'campaign-head' },
          img ? h('img', { class: 'thumb', src: img, alt: `Ad creative: ${(creative && creative.headline) || c.name || ''}`.trim(), loading: 'lazy' }) : null,
          h('div', null,
            h('strong', null, String(c.name ?? 'Campaign')),
            creative && creative.headline ? h('p', { class: 'small' }, `Headline: “${creative.headline}”`) : null)),
        c.rationale ? h('p', { class: 'muted small' }, String(c.rationale)) : null),
      h('td', null, String(c.audience ?? '—'),
        Array.isArray(c.audience_interests) && c.audience_interests.length
          ? h('p', { class: 'muted small' }, `Interests: ${c.audience_interests.map(String).join(', ')}`)
          : null),
      h('td', null, c.placement ? humanize(String(c.placement)) : (c.channel ? String(c.channel) : '—')),
      h('td', { class: 'num nowrap' }, money(d)),
      h('td', { class: 'num' }, days === null ? '—' : String(days)),
      h('td', { class: 'num nowrap' }, money(t)));
  });
  return h('div', { class: 'table-wrap' }, labelCells(
    h('table', { class: 'table campaigns stack-sm' },
      h('thead', null, h('tr', null,
        ['Campaign', 'Audience', 'Placement', 'Daily budget', 'Days', 'Total'].map((t, i) =>
          h('th', { scope: 'col', class: i >= 3 ? 'num' : null }, t)))),
      h('tbody', null, rows),
      h('tfoot', null, h('tr', { class: 'total-row' },
        h('th', { scope: 'row', colspan: '3' }, `Total (${campaigns.length} campaign${campaigns.length === 1 ? '' : 's'})`),
        h('td', { class: 'num' }, `${money(daily)}/day`),
        h('td', null),
        h('td', { class: 'num' }, h('strong', null, money(total))))))));
}

// --------------------------------------------------------------------- drafts

/**
 * "Why this creator": the offline agent writes it from the creator's record
 * as "<followers> followers on <platform>; niche: …; …. Notes: …". That
 * structured start is shown as "38,400 followers on Instagram; …"; anything
 * else (a model's own words) is left exactly as written.
 */
export function whyText(why) {
  const text = String(why ?? '');
  const m = /^(\d+) followers on ([A-Za-z][\w-]*);/.exec(text);
  if (!m) return text;
  return `${count(Number(m[1]))} followers on ${platformName(m[2])};${text.slice(m[0].length)}`;
}

/** A structured "why": counts with thousands separators, platforms spelt right. */
function whyFields(why) {
  return Object.fromEntries(Object.entries(why).map(([k, v]) => [k,
    typeof v === 'number' && Number.isInteger(v) && !/year/i.test(k) ? count(v)
      : /platform/i.test(k) && typeof v === 'string' ? platformName(v)
        : v]));
}

function renderDrafts(drafts) {
  if (!Array.isArray(drafts) || !drafts.every(isObj)) return null;
  return h('ol', { class: 'dms' }, drafts.map((d) =>
    h('li', { class: 'dm' },
      h('div', { class: 'dm-head' },
        h('span', { class: 'avatar', 'aria-hidden': 'true' }, String(d.name || d.handle || '?').trim().charAt(0).toUpperCase()),
        h('span', null,
          h('strong', null, String(d.name || d.handle || 'Creator')),
          d.handle && d.name ? h('span', { class: 'muted' }, ` ${d.handle}`) : null,
          d.platform ? h('span', { class: 'muted' }, ` · ${platformName(d.platform)}`) : null,
          typeof d.followers === 'number' ? h('span', { class: 'muted' }, ` · ${count(d.followers)} followers`) : null),
        d.past_collaboration ? h('span', { class: 'chip' }, 'worked with us before') : null),
      h('div', { class: 'bubble' }, String(d.message ?? d.text ?? '')),
      d.offer ? h('p', { class: 'small' }, h('strong', null, 'Offer: '), String(d.offer)) : null,
      d.why ? h(isObj(d.why) ? 'div' : 'p', { class: 'small muted why' }, h('strong', null, 'Why this creator: '), isObj(d.why) ? renderValue(whyFields(d.why), 1) : whyText(d.why)) : null,
      rest(d, ['name', 'handle', 'platform', 'followers', 'past_collaboration', 'message', 'text', 'offer', 'why', 'creator_id']))));
}

/** The proposal of a card, readably. */
export function renderProposal(card) {
  const p = card.proposal;
  let out = null;
  switch (card.target_output_field) {
    case 'variants': out = renderVariants(p); break;
    case 'post_caption': out = renderCaption(p, card); break;
    case 'campaigns': out = renderCampaigns(p); break;
    case 'drafts': out = renderDrafts(p); break;
    default: out = null;
  }
  return h('div', { class: ['proposal', `proposal-${String(card.target_output_field || 'other').replace(/[^a-z0-9_-]/gi, '')}`] },
    out || renderValue(p));
}
