// DOM helpers. Server data only ever goes in as text (textContent / attribute values), never as HTML.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'href' && !safeHref(String(value))) continue;
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function safeHref(value) {
  try {
    const url = new URL(value, location.href);
    return url.protocol === 'http:' || url.protocol === 'https:' || url.protocol === 'blob:';
  } catch {
    return false;
  }
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

let idCounter = 0;
export function uid(prefix) {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

export function announce(message) {
  const region = document.getElementById('announcer');
  if (!region) return;
  region.textContent = '';
  setTimeout(() => { region.textContent = message; }, 50);
}

export function statusBadge(status, text) {
  const value = String(status || 'unknown').toLowerCase();
  return h('span', { class: `status ${value}` }, text || value);
}

// A labelled form field: label, optional hint, the control, and a slot for its error message.
export function field({ name, label, type = 'text', hint, value, required, optional, attrs = {}, options }) {
  const id = uid(`f-${name}`);
  const hintId = hint ? `${id}-hint` : null;
  let control;
  if (type === 'select') {
    control = h('select', { id, name, required, 'aria-describedby': hintId, ...attrs },
      options.map(([v, t]) => h('option', { value: v, selected: String(v) === String(value ?? '') }, t)));
  } else if (type === 'checkbox') {
    control = h('input', { id, name, type, checked: Boolean(value), 'aria-describedby': hintId, ...attrs });
    return h('div', { class: 'field' },
      h('label', { class: 'check', for: id }, control, h('span', {}, label)),
      hint ? h('p', { class: 'hint', id: hintId }, hint) : null);
  } else {
    control = h('input', { id, name, type, value: value ?? '', required, 'aria-describedby': hintId, ...attrs });
  }
  return h('div', { class: 'field' },
    h('label', { for: id }, label, optional ? h('span', { class: 'muted' }, ' (optional)') : null),
    hint ? h('p', { class: 'hint', id: hintId }, hint) : null,
    control);
}

export function table(columns, rows, { caption, empty = 'Nothing to show.' } = {}) {
  if (!rows.length) return h('p', { class: 'muted' }, empty);
  return h('table', { class: 'responsive' },
    caption ? h('caption', {}, caption) : null,
    h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, rows.map((cells) => h('tr', {},
      cells.map((cell, i) => h('td', { 'data-label': columns[i] }, cell))))));
}
