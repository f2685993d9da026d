// Possible duplicates (admins): patients the sync created that look like an existing patient (same name,
// birth date and sex, no identifier in common). Each can be previewed and merged (Patient/$merge) or
// dismissed; nothing is merged without a person deciding.

import { ApiError, fhir, request, serverUrl } from '../api.js';
import { auth } from '../auth.js';
import { announce, field, h } from '../dom.js';
import { busy } from '../forms.js';
import { formatDate, issueText, refId } from '../format.js';
import { link } from '../router.js';

const STATUS_LABELS = { open: 'To review', dismissed: 'Dismissed', merged: 'Merged', all: 'All' };

function errorText(error) {
  if (error instanceof ApiError && error.status === 403) return 'You are not allowed to do this: merging needs write access to both patients and their studies.';
  return error.message || String(error);
}

function patientFacts(side) {
  if (!side.visible) return h('p', { class: 'muted' }, `${side.reference} (not visible to you)`);
  const id = refId(side.reference);
  const identifiers = (side.identifiers || []).map((i) => h('li', {},
    h('span', { class: 'mono' }, i.value), ' ', h('span', { class: 'muted' }, i.system || ''), i.use === 'old' ? ' (old)' : null));
  return h('dl', { class: 'facts' },
    h('dt', {}, 'Name'), h('dd', {}, link(`patients/${encodeURIComponent(id)}`, side.name || '(no name)')),
    h('dt', {}, 'Date of birth'), h('dd', {}, formatDate(side.birthDate)),
    h('dt', {}, 'Sex'), h('dd', {}, side.gender || '—'),
    h('dt', {}, 'National ID'), h('dd', {}, side.nationalId || '—'),
    h('dt', {}, 'Identifiers'), h('dd', {}, identifiers.length ? h('ul', { class: 'plain' }, identifiers) : '—'),
    h('dt', {}, 'Record'), h('dd', {},
      side.replacedBy ? `inactive, merged into ${side.replacedBy}` : (side.active === false ? 'inactive' : 'active')),
    h('dt', {}, 'Patient ID'), h('dd', { class: 'mono' }, id));
}

function studyList(side) {
  const studies = side.studies || [];
  if (!studies.length) return h('p', { class: 'muted' }, 'No studies.');
  return h('ul', { class: 'studies' }, studies.map((s) => h('li', { dataset: { study: refId(s.reference) } },
    `${formatDate(s.started)} · ${s.description || 'Imaging study'}`,
    s.modalities && s.modalities.length ? ` · ${s.modalities.join(', ')}` : '',
    s.hospital ? ` · ${s.hospital}` : '')));
}

function sidePanel(side, heading) {
  return h('section', { class: 'side', 'aria-label': heading },
    h('h3', {}, heading), patientFacts(side), h('h4', {}, 'Studies'), studyList(side));
}

function mergeParameters(source, target, preview) {
  return {
    resourceType: 'Parameters',
    parameter: [
      { name: 'source-patient', valueReference: { reference: source } },
      { name: 'target-patient', valueReference: { reference: target } },
      { name: 'preview', valueBoolean: preview },
    ],
  };
}

function parameter(parameters, name) {
  return ((parameters && parameters.parameter) || []).find((p) => p.name === name) || {};
}

function outcomeList(parameters) {
  const outcome = parameter(parameters, 'outcome').resource || { issue: [] };
  return h('ul', { class: 'outcome' }, (outcome.issue || []).map((issue) => h('li', {},
    issue.severity === 'warning' ? h('strong', {}, 'Warning: ') : null, issueText(issue))));
}

function candidateCard(candidate) {
  const headingId = `candidate-${candidate.id}-heading`;
  const card = h('section', { class: 'card candidate', id: `candidate-${candidate.id}`, 'aria-labelledby': headingId, dataset: { status: candidate.status } });
  const title = candidate.target.name || candidate.source.name || 'Patient';
  const where = candidate.hospital && candidate.hospital.name ? ` at ${candidate.hospital.name}` : '';
  card.append(h('h2', { id: headingId }, `${title} — ${STATUS_LABELS[candidate.status] || candidate.status}`),
    h('p', { class: 'muted' }, `Found ${formatDate(candidate.detectedAt)}${where}: ${candidate.reason}.`));
  const note = h('div', { class: 'result', role: 'status' });

  if (candidate.status !== 'open') {
    const decided = candidate.status === 'merged'
      ? `Merged into ${candidate.mergedInto || 'the other record'}`
      : 'Dismissed: two different people';
    card.append(h('p', { class: 'decision' }, `${decided}${candidate.decidedBy ? ` by ${candidate.decidedBy}` : ''}${candidate.decidedAt ? `, ${formatDate(candidate.decidedAt)}` : ''}.`));
  }
  card.append(h('div', { class: 'grid' },
    sidePanel(candidate.source, 'Created by the sync'),
    sidePanel(candidate.target, 'Existing patient')));
  if (candidate.status !== 'open' || !candidate.source.visible || !candidate.target.visible) {
    card.append(note);
    return card;
  }

  // Which record survives: by default the existing one; the sync's record can be kept instead.
  const survivor = field({
    name: 'survivor', label: 'Keep', type: 'select', value: 'target',
    options: [['target', `the existing patient (${candidate.target.name || candidate.target.reference})`], ['source', `the record created by the sync (${candidate.source.name || candidate.source.reference})`]],
    hint: 'The other record becomes inactive and points to the one kept; all its studies move there.',
  });
  const direction = () => {
    const keepSource = survivor.querySelector('select').value === 'source';
    return keepSource
      ? { source: candidate.target.reference, target: candidate.source.reference }
      : { source: candidate.source.reference, target: candidate.target.reference };
  };
  const previewButton = h('button', { type: 'button', class: 'secondary', dataset: { action: 'preview' } }, 'Preview merge');
  const mergeButton = h('button', { type: 'button', dataset: { action: 'merge' } }, 'Merge');
  const dismissButton = h('button', { type: 'button', class: 'secondary', dataset: { action: 'dismiss' } }, 'Dismiss');
  const actions = h('div', { class: 'actions' }, previewButton, mergeButton, dismissButton);
  const finish = (message, status) => {
    card.dataset.status = status;
    survivor.remove();
    actions.remove();
    note.replaceChildren(h('div', { class: 'notice success' }, message));
    announce(typeof message === 'string' ? message : message.textContent);
  };

  previewButton.addEventListener('click', async () => {
    const { source, target } = direction();
    note.replaceChildren();
    try {
      const result = await busy(previewButton, () => fhir('Patient/$merge', { method: 'POST', body: mergeParameters(source, target, true) }));
      const patient = parameter(result, 'result').resource || {};
      note.replaceChildren(h('div', { class: 'notice', id: `candidate-${candidate.id}-preview` },
        h('p', {}, h('strong', {}, 'Preview — nothing has been changed yet.')), outcomeList(result),
        h('p', {}, `${target} would have ${(patient.identifier || []).length} identifiers after the merge.`)));
    } catch (error) {
      note.replaceChildren(h('div', { class: 'notice error', role: 'alert' }, errorText(error)));
    }
  });

  mergeButton.addEventListener('click', () => {
    const { source, target } = direction();
    const confirmButton = h('button', { type: 'button', class: 'danger', dataset: { action: 'confirm-merge' } }, 'Yes, merge');
    const cancelButton = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
    note.replaceChildren(h('div', { class: 'notice', role: 'alert' },
      h('p', {}, `Merge ${source} into ${target}? Its studies move to ${target} and ${source} becomes inactive. This is recorded in the audit log.`),
      h('div', { class: 'actions' }, confirmButton, cancelButton)));
    confirmButton.focus();
    cancelButton.addEventListener('click', () => { note.replaceChildren(); mergeButton.focus(); });
    confirmButton.addEventListener('click', async () => {
      try {
        const result = await busy(confirmButton, () => fhir('Patient/$merge', { method: 'POST', body: mergeParameters(source, target, false) }));
        const kept = refId(target);
        finish(h('div', {}, h('p', {}, 'Merged.'), outcomeList(result), link(`patients/${encodeURIComponent(kept)}`, 'Open the merged patient')), 'merged');
      } catch (error) {
        note.replaceChildren(h('div', { class: 'notice error', role: 'alert' }, errorText(error)));
      }
    });
  });

  dismissButton.addEventListener('click', async () => {
    note.replaceChildren();
    try {
      await busy(dismissButton, () => request(serverUrl(`admin/patient-matches/${encodeURIComponent(candidate.id)}/dismiss`), { method: 'POST' }));
      finish('Dismissed: recorded as two different people.', 'dismissed');
    } catch (error) {
      note.replaceChildren(h('div', { class: 'notice error', role: 'alert' }, errorText(error)));
    }
  });
  card.append(survivor, actions, note);
  return card;
}

export async function duplicatesPage(ctx) {
  const { main } = ctx;
  main.append(h('h1', {}, 'Possible duplicates'));
  if (!auth.isAdmin()) {
    main.append(h('p', {}, 'Only administrators review possible duplicate patients.'));
    return;
  }
  const status = STATUS_LABELS[ctx.query.get('status')] ? ctx.query.get('status') : 'open';
  main.append(
    h('p', { class: 'lead' }, 'Patients the sync created that have the same name, date of birth and sex as an existing patient, but no national ID or hospital ID in common. Merge them if they are one person; dismiss them if not. Nothing is merged automatically.'),
    h('nav', { 'aria-label': 'Show', class: 'actions' }, Object.entries(STATUS_LABELS).map(([value, label]) => (value === status
      ? h('strong', { 'aria-current': 'page' }, label)
      : link(`duplicates?status=${value}`, label)))),
    h('p', { class: 'loading' }, 'Loading…'));
  let body;
  try {
    body = await request(serverUrl('admin/patient-matches'), { params: { status } });
  } catch (error) {
    if (!ctx.current()) return;
    main.querySelector('.loading')?.remove();
    main.append(h('div', { class: 'notice error', role: 'alert' }, errorText(error)));
    return;
  }
  if (!ctx.current()) return;
  main.querySelector('.loading')?.remove();
  const candidates = body.candidates || [];
  const list = h('div', { id: 'duplicate-candidates' }, candidates.map(candidateCard));
  if (!candidates.length) list.append(h('p', { class: 'muted', id: 'no-duplicates' }, status === 'open' ? 'No possible duplicates to review.' : 'Nothing to show.'));
  main.append(list);
}
