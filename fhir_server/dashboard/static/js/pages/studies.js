// Recent studies across hospitals, filtered by hospital, modality and date.

import { fhir, follow } from '../api.js';
import { FEDERATION_INCLUDES } from '../components.js';
import { field, h } from '../dom.js';
import { busy, clearErrors, showErrors } from '../forms.js';
import {
  DCM, bundleResources, formatDate, hospitalsOfStudies, modalities, nextLink, patientName, refId, studyTitle,
} from '../format.js';
import { link, navigate } from '../router.js';

export const MODALITIES = [
  ['CR', 'Computed radiography'], ['CT', 'Computed tomography'], ['DX', 'Digital radiography'], ['MG', 'Mammography'],
  ['MR', 'Magnetic resonance'], ['NM', 'Nuclear medicine'], ['PT', 'PET'], ['RF', 'Radio fluoroscopy'],
  ['US', 'Ultrasound'], ['XA', 'X-ray angiography'], ['OT', 'Other'],
];

// The study date range: "to" before "from" matches nothing, which looks like "no studies".
export function rangeProblem(from, to) {
  return from && to && from > to ? `The end date (${to}) is before the start date (${from}). Choose an end date on or after the start date.` : null;
}

export async function studiesPage(ctx) {
  const { main, query } = ctx;
  const organizations = bundleResources(await fhir('Organization', { params: { _count: 500, _sort: 'name' } }), 'Organization');
  if (!ctx.current()) return;
  const filters = { modality: query.get('modality') || '', hospital: query.get('hospital') || '', from: query.get('from') || '', to: query.get('to') || '' };
  const form = h('form', { class: 'card', id: 'study-filters', 'aria-label': 'Filter studies' },
    h('div', { class: 'inline-form' },
      field({ name: 'modality', label: 'Modality', type: 'select', value: filters.modality, options: [['', 'Any modality'], ...MODALITIES.map(([c, t]) => [c, `${c} · ${t}`])] }),
      field({ name: 'hospital', label: 'Hospital', type: 'select', value: filters.hospital, options: [['', 'Any hospital'], ...organizations.map((o) => [o.id, o.name || o.id])] }),
      field({ name: 'from', label: 'From', type: 'date', value: filters.from }),
      field({ name: 'to', label: 'To', type: 'date', value: filters.to }),
      h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Show studies'),
        h('button', { type: 'button', class: 'secondary', id: 'clear-filters' }, 'Clear'))));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const problem = rangeProblem(form.elements.from.value, form.elements.to.value);
    if (problem) {
      showErrors(form, [{ field: 'to', message: problem }]);
      return;
    }
    clearErrors(form);
    const params = new URLSearchParams();
    for (const name of ['modality', 'hospital', 'from', 'to']) {
      const value = form.elements[name].value;
      if (value) params.set(name, value);
    }
    const text = params.toString();
    navigate(`studies${text ? `?${text}` : ''}`);
  });
  form.querySelector('#clear-filters').addEventListener('click', () => navigate('studies'));

  const results = h('section', { class: 'card', 'aria-labelledby': 'study-results', id: 'studies' },
    h('h2', { id: 'study-results' }, 'Studies'), h('p', { class: 'loading' }, 'Loading…'));
  main.append(h('h1', {}, 'Studies'), form, results);
  const problem = rangeProblem(filters.from, filters.to);
  if (problem) {
    // A bookmarked or typed address with the dates swapped: say so rather than show no study.
    showErrors(form, [{ field: 'to', message: problem }]);
    results.replaceChildren(h('h2', { id: 'study-results' }, 'Studies'), h('p', { class: 'muted' }, 'Fix the dates to see studies.'));
    return;
  }

  const params = [['_sort', '-started'], ['_count', '25'], ['_include', 'ImagingStudy:patient'], ...FEDERATION_INCLUDES];
  if (filters.modality) params.push(['modality', `${DCM}|${filters.modality}`]);
  if (filters.hospital) params.push(['endpoint.organization', `Organization/${filters.hospital}`]);
  if (filters.from) params.push(['started', `ge${filters.from}`]);
  if (filters.to) params.push(['started', `le${filters.to}`]);
  let bundle = await fhir('ImagingStudy', { params: [...params, ['_total', 'accurate']] });
  if (!ctx.current()) return;

  const body = h('tbody');
  const more = h('button', { type: 'button', class: 'secondary' }, 'Load more studies');
  const addRows = (page) => {
    const patients = new Map(bundleResources(page, 'Patient').map((p) => [p.id, p]));
    const hospitals = hospitalsOfStudies(page);
    for (const s of bundleResources(page, 'ImagingStudy', 'match')) {
      const patient = patients.get(refId(s.subject));
      const hospital = hospitals.get(s.id);
      body.append(h('tr', { dataset: { study: s.id } },
        h('td', { 'data-label': 'Date' }, formatDate(s.started)),
        h('td', { 'data-label': 'Patient' }, patient ? link(`patients/${encodeURIComponent(patient.id)}`, patientName(patient)) : '—'),
        h('td', { 'data-label': 'Study' }, link(`studies/${encodeURIComponent(s.id)}`, studyTitle(s))),
        h('td', { 'data-label': 'Modality' }, modalities(s).join(', ') || '—'),
        h('td', { 'data-label': 'Hospital' }, hospital ? link(`hospitals/${encodeURIComponent(hospital.id)}`, hospital.name) : '—')));
    }
    more.hidden = !nextLink(page);
  };
  addRows(bundle);
  const total = bundle.total;
  results.replaceChildren(h('h2', { id: 'study-results' }, total === undefined ? 'Studies' : `${total} ${total === 1 ? 'study' : 'studies'}`));
  if (!body.children.length) {
    results.append(h('p', { class: 'muted' }, 'No study matches these filters.'));
    return;
  }
  more.addEventListener('click', async () => {
    const next = nextLink(bundle);
    if (!next) {
      more.hidden = true;
      return;
    }
    bundle = await busy(more, () => follow(next));
    addRows(bundle);
  });
  results.append(h('table', { class: 'responsive', id: 'studies-table' },
    h('thead', {}, h('tr', {}, ['Date', 'Patient', 'Study', 'Modality', 'Hospital'].map((c) => h('th', { scope: 'col' }, c)))), body),
  h('div', { class: 'pager' }, more));
}
