// Federation search (the old /federation-access?national_id=): every study of a patient at every hospital,
// and which hospitals were consulted.

import { fhir } from '../api.js';
import {
  FEDERATION_INCLUDES, federationView, hospitalIdentifier, hospitalStatus, pacsCell, patientLink, resolvePatient,
} from '../components.js';
import { config } from '../config.js';
import { field, h, table } from '../dom.js';
import { bundleResources, hospitalsOfStudies } from '../format.js';
import { freshnessCell, intervalText, unreachableWarning } from '../freshness.js';
import { navigate } from '../router.js';

export async function federationPage(ctx) {
  const { main, query } = ctx;
  const nationalId = (query.get('national_id') || '').trim();
  const patientParam = (query.get('patient') || query.get('patient_id') || '').trim();
  const form = h('form', { class: 'card', id: 'federation-form', role: 'search', 'aria-label': 'Federation search' },
    h('p', { class: 'muted' }, 'Fill in one of the two.'),
    h('div', { class: 'inline-form' },
      field({ name: 'national_id', label: 'National ID', value: nationalId, attrs: { inputmode: 'numeric', autocomplete: 'off' } }),
      field({ name: 'patient', label: 'Patient ID', hint: 'Also old IDs like PAT-901234.', value: patientParam, attrs: { autocomplete: 'off' } }),
      h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Search all hospitals'))));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const nid = form.elements.national_id.value.trim();
    const pid = form.elements.patient.value.trim();
    const params = new URLSearchParams();
    if (nid) params.set('national_id', nid);
    else if (pid) params.set('patient', pid);
    navigate(`federation${params.toString() ? `?${params}` : ''}`);
  });
  const results = h('div', { id: 'federation-results', 'aria-live': 'polite' });
  main.append(h('h1', {}, 'Federation search'),
    h('p', { class: 'lead' }, 'Every imaging study of one patient, at every hospital of the federation.'), form, results);
  if (!nationalId && !patientParam) return;
  results.append(h('p', { class: 'loading' }, 'Consulting every hospital…'));

  let patients = [];
  let params;
  if (nationalId) {
    const identifier = `${config.nationalIdSystem}|${nationalId}`;
    patients = bundleResources(await fhir('Patient', { params: { identifier } }), 'Patient');
    params = [['patient.identifier', identifier]];
  } else {
    const patient = await resolvePatient(patientParam);
    patients = patient ? [patient] : [];
    params = [['patient', `Patient/${patient ? patient.id : patientParam}`]];
  }
  const [bundle, status] = await Promise.all([
    fhir('ImagingStudy', { params: [...params, ['_sort', '-started'], ['_count', '200'], ...FEDERATION_INCLUDES] }),
    hospitalStatus(),
  ]);
  if (!ctx.current()) return;

  const perHospital = new Map();
  for (const hospital of hospitalsOfStudies(bundle).values()) {
    if (hospital) perHospital.set(hospital.id, (perHospital.get(hospital.id) || 0) + 1);
  }
  const studyCount = bundleResources(bundle, 'ImagingStudy', 'match').length;
  results.replaceChildren(
    h('section', { class: 'card', 'aria-labelledby': 'fed-patient' },
      h('h2', { id: 'fed-patient' }, patients.length === 1 ? 'Patient' : 'Patients'),
      patients.length
        ? h('ul', {}, patients.map((p) => h('li', {}, patientLink(p))))
        : h('p', {}, nationalId ? `No patient is registered with national ID ${nationalId}.` : `No patient has the id ${patientParam}.`)),
    h('section', { class: 'card', 'aria-labelledby': 'fed-consulted' },
      h('h2', { id: 'fed-consulted' }, `Hospitals consulted (${status.hospitals.length})`),
      // The studies come from what each hospital's last sync stored: say how fresh that is, and which
      // PACS could not be reached (their newest studies are missing).
      unreachableWarning(status.hospitals),
      h('p', { class: 'muted' }, intervalText(status.syncInterval)),
      table(['Hospital', 'Identifier', 'PACS (Orthanc)', 'Data as of last sync', 'Studies found'],
        status.hospitals.map((x) => [x.name, hospitalIdentifier(x), pacsCell(x), freshnessCell(x, status.syncInterval), String(perHospital.get(x.id) || 0)]),
        { empty: 'No hospital is registered.' })),
    h('section', { class: 'card', 'aria-labelledby': 'fed-studies' },
      h('h2', { id: 'fed-studies' }, `Studies (${studyCount})`), federationView(bundle)));
  results.querySelector('section:nth-of-type(2) table')?.setAttribute('id', 'consulted-table');
}
