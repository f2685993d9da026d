// Sharing a patient's or a study's images as a SMART Health Link: passcode, expiry, image access; the QR code;
// the existing links with their status and access log; revocation.

import { fhir, imageUrl, request } from '../api.js';
import { config } from '../config.js';
import { field, h, statusBadge, table, uid } from '../dom.js';
import { busy, clearErrors, formValues, issueErrors, showErrors } from '../forms.js';
import { formatDate, refId } from '../format.js';

const EXPIRY = [['1', '1 day'], ['7', '7 days'], ['30', '30 days'], ['90', '90 days'], ['', 'Never']];

function fieldOf(expression) {
  const match = String(expression).match(/name='(\w+)'/);
  return match ? match[1] : null;
}

function valueOf(part) {
  const key = Object.keys(part).find((k) => k.startsWith('value'));
  return key ? part[key] : undefined;
}

function parseParameters(resource) {
  const out = {};
  for (const p of resource.parameter || []) out[p.name] = valueOf(p);
  return out;
}

function linksOf(resource) {
  return (resource.parameter || []).filter((p) => p.name === 'shl').map((p) => {
    const link = {};
    for (const part of p.part || []) link[part.name] = valueOf(part);
    return link;
  });
}

function parameters(values, forStudy) {
  const params = [];
  if (values.label) params.push({ name: 'label', valueString: values.label });
  if (values.passcode) params.push({ name: 'passcode', valueString: values.passcode });
  if (values.expires) {
    const when = new Date(Date.now() + Number(values.expires) * 86400000);
    params.push({ name: 'expires', valueDateTime: when.toISOString().replace(/\.\d{3}Z$/, 'Z') });
  }
  params.push({ name: 'imageAccess', valueBoolean: Boolean(values.imageAccess) });
  if (!forStudy) params.push({ name: 'longTerm', valueBoolean: Boolean(values.longTerm) });
  return { resourceType: 'Parameters', parameter: params };
}

async function qrImage(url, alt) {
  const src = await imageUrl(url, 'image/png');
  return h('img', { src, alt, width: 288, height: 288, class: 'qr-image' });
}

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

// The host in the links when it is one only this computer can open (the server's public base is loopback).
export function loopbackHost(base = config.fhirBase) {
  try {
    const { hostname } = new URL(base);
    return LOOPBACK.test(hostname) ? hostname : null;
  } catch {
    return null;
  }
}

// Prints the QR block alone (app.css @media print), then puts the page back.
function printOnly(block) {
  document.body.classList.add('printing-qr');
  block.classList.add('print-target');
  const done = () => {
    document.body.classList.remove('printing-qr');
    block.classList.remove('print-target');
    window.removeEventListener('afterprint', done);
  };
  window.addEventListener('afterprint', done);
  window.print();
}

// A QR code with what whoever holds it needs to know: it opens the shared images; a loopback address
// cannot be opened by any phone.
function qrBlock(id, img, ...details) {
  const host = loopbackHost();
  const print = h('button', { type: 'button', class: 'secondary small print-qr' }, 'Print QR code');
  const block = h('div', { class: 'qr', id },
    img,
    h('div', { class: 'qr-text' },
      ...details,
      h('div', { class: 'notice warning qr-warning', role: 'note' },
        'Anyone who scans this code can open the shared images (with the passcode, if one was set) until the link ' +
        'expires or is revoked. Give it only to the intended recipient and do not leave printed copies lying around.'),
      host ? h('div', { class: 'notice warning qr-loopback', role: 'note' },
        `This link points to ${host}, an address only this computer can open: a phone that scans it will fail. ` +
        'Set FHIR_PUBLIC_BASE_URL to an address phones can reach (for example https://imaging.example.org/fhir), ' +
        'restart the server and create the link again.') : null,
      h('div', { class: 'actions no-print' }, print)));
  print.addEventListener('click', () => printOnly(block));
  return block;
}

// patientId: the Patient whose links these are; studyId: share only this study (else the whole record).
export function sharePanel({ patientId, studyId, heading }) {
  const headingId = uid('share-heading');
  const result = h('div', { class: 'share-result', 'aria-live': 'polite' });
  const list = h('div', { class: 'share-links' }, h('p', { class: 'loading' }, 'Loading links…'));
  const form = h('form', { class: 'share-form', novalidate: true },
    field({ name: 'label', optional: true, label: 'Label', hint: 'Shown to the recipient, e.g. "For Dr Smith, knee MRI". At most 80 characters.', attrs: { maxlength: 80, autocomplete: 'off' } }),
    field({ name: 'passcode', optional: true, label: 'Passcode', hint: 'The recipient must type it. Tell it to them separately, not with the QR code.', attrs: { autocomplete: 'off', spellcheck: 'false' } }),
    field({ name: 'expires', label: 'Link expires after', type: 'select', value: '7', options: EXPIRY }),
    field({ name: 'imageAccess', label: 'Include image access (the viewer may load the images for 15 minutes after opening)', type: 'checkbox', value: true }),
    studyId ? null : field({ name: 'longTerm', label: 'Long-term link: studies added later appear too', type: 'checkbox', value: false }),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, studyId ? 'Create study link and QR code' : 'Create link and QR code')));

  async function refresh() {
    let links;
    try {
      links = linksOf(await fhir(`Patient/${encodeURIComponent(patientId)}/$shl`));
    } catch (error) {
      list.replaceChildren(h('div', { class: 'notice error' }, error.message));
      return;
    }
    if (studyId) links = links.filter((l) => refId(l.study) === studyId);
    links.sort((a, b) => String(b.created).localeCompare(String(a.created)));
    const rows = links.map((l) => [
      l.label || h('span', { class: 'muted' }, '(no label)'),
      l.study ? 'One study' : 'Whole record',
      formatDate(l.created),
      l.expires ? formatDate(l.expires) : 'never',
      statusBadge(l.status),
      [(l.flag || '').includes('P') ? 'passcode' : null, (l.flag || '').includes('L') ? 'long-term' : null, l.imageAccess ? 'images' : null].filter(Boolean).join(', ') || '—',
      linkActions(l),
    ]);
    list.replaceChildren(table(['Label', 'Shares', 'Created', 'Expires', 'Status', 'Options', 'Actions'], rows, { empty: 'No links yet.' }));
    const tableEl = list.querySelector('table');
    if (tableEl) {
      tableEl.classList.add('links-table');
      [...tableEl.tBodies[0].rows].forEach((row, i) => { row.dataset.link = links[i].id; });
    }
  }

  function linkActions(l) {
    const cell = h('div', { class: 'actions' });
    const logButton = h('button', { type: 'button', class: 'secondary small', 'aria-expanded': 'false' }, 'Access log');
    logButton.addEventListener('click', async () => {
      const row = logButton.closest('tr');
      const shown = row.nextElementSibling && row.nextElementSibling.classList.contains('log-row') ? row.nextElementSibling : null;
      if (shown) {
        shown.remove();
        logButton.setAttribute('aria-expanded', 'false');
        return;
      }
      const bundle = await busy(logButton, () => request(l.log));
      const events = (bundle.entry || []).map((e) => e.resource);
      const log = table(['When', 'Recipient', 'Address', 'Outcome'], events.map((ev) => {
        const agent = (ev.agent || [])[0] || {};
        return [formatDate(ev.recorded), (agent.who && agent.who.display) || '—', (agent.network && agent.network.address) || '—',
          ev.outcome === '0' ? 'opened' : (ev.outcomeDesc || 'refused')];
      }), { caption: `Access log of ${l.label || 'this link'}`, empty: 'Nobody has opened this link yet.' });
      row.after(h('tr', { class: 'log-row', dataset: { logFor: l.id } }, h('td', { colspan: 7 }, log)));
      logButton.setAttribute('aria-expanded', 'true');
    });
    cell.append(logButton);
    if (l.status === 'active') {
      const qrButton = h('button', { type: 'button', class: 'secondary small' }, 'QR code');
      qrButton.addEventListener('click', async () => {
        const img = await busy(qrButton, () => qrImage(l.qr, `QR code of the link ${l.label || ''}`.trim()));
        result.replaceChildren(qrBlock('link-qr', img, h('p', {}, `QR code of the existing link ${l.label || ''}. Scan it to open the shared images.`)));
      });
      const revoke = h('button', { type: 'button', class: 'secondary small' }, 'Revoke');
      revoke.addEventListener('click', () => {
        const confirmBox = h('span', { class: 'confirm', role: 'group', 'aria-label': 'Confirm revocation' },
          h('span', {}, 'Revoke this link for good?'));
        const yes = h('button', { type: 'button', class: 'danger small' }, 'Yes, revoke');
        const no = h('button', { type: 'button', class: 'secondary small' }, 'Cancel');
        yes.addEventListener('click', async () => {
          await busy(yes, () => fhir(`Patient/${encodeURIComponent(patientId)}/$shl-revoke`, {
            method: 'POST', body: { resourceType: 'Parameters', parameter: [{ name: 'id', valueString: l.id }] },
          }));
          await refresh();
        });
        no.addEventListener('click', () => { confirmBox.replaceWith(revoke); revoke.focus(); });
        confirmBox.append(yes, no);
        revoke.replaceWith(confirmBox);
        yes.focus();
      });
      cell.append(qrButton, revoke);
    }
    return cell;
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    const values = formValues(form);
    const target = studyId ? `ImagingStudy/${encodeURIComponent(studyId)}` : `Patient/${encodeURIComponent(patientId)}`;
    await busy(form.querySelector('button[type=submit]'), async () => {
      let created;
      try {
        created = parseParameters(await fhir(`${target}/$shl`, { method: 'POST', body: parameters(values, Boolean(studyId)) }));
      } catch (error) {
        showErrors(form, issueErrors(error, fieldOf));
        return;
      }
      const img = await qrImage(created.qr, 'QR code of the new SMART Health Link: scan it to open the shared images');
      const linkId = uid('shl-url');
      result.replaceChildren(h('div', { class: 'notice success', role: 'status' }, 'Link created.'),
        qrBlock('new-link', img,
          h('label', { for: linkId }, 'Link to the viewer'),
          h('input', { id: linkId, type: 'text', readonly: true, value: created.viewerUrl, class: 'mono shl-url' }),
          h('div', { class: 'actions no-print' }, copyButton(created.viewerUrl)),
          values.passcode ? h('p', {}, 'The recipient also needs the passcode. Give it to them separately.') : null,
          values.expires ? h('p', {}, `Expires in ${EXPIRY.find(([v]) => v === values.expires)[1]}.`) : null));
      form.reset();
      await refresh();
    });
  });

  refresh();
  return h('section', { class: 'card share', 'aria-labelledby': headingId },
    h('h2', { id: headingId }, heading || 'Share with a SMART Health Link'),
    h('p', { class: 'muted' }, 'Creates an encrypted link and QR code the recipient opens in any browser, no account needed. You can revoke it at any time.'),
    form, result, h('h3', {}, 'Links'), list);
}

function copyButton(text) {
  const button = h('button', { type: 'button', class: 'secondary small' }, 'Copy link');
  button.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = 'Copied';
    } catch {
      button.textContent = 'Select the link and copy it';
    }
  });
  return button;
}
