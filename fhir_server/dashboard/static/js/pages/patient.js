// A patient: demographics, every study across hospitals (the federation view) with thumbnails, sharing.

import { fhir } from '../api.js';
import { FEDERATION_INCLUDES, federationView, resolvePatient } from '../components.js';
import { config } from '../config.js';
import { h } from '../dom.js';
import { formatDate, identifierValue, legacyId, patientName, phone } from '../format.js';
import { link, navigate } from '../router.js';
import { sharePanel } from './share.js';

export async function patientPage(ctx) {
  const { main } = ctx;
  const [requested] = ctx.params;
  main.append(h('p', { class: 'loading' }, 'Loading patient…'));
  const patient = await resolvePatient(requested);
  if (!ctx.current()) return;
  main.replaceChildren();
  if (!patient) {
    main.append(h('h1', {}, 'Patient not found'),
      h('p', {}, `No patient has the id or old id “${requested}”. `, link(`patients?q=${encodeURIComponent(requested)}`, 'Search for it')));
    return;
  }
  if (patient.id !== requested) {
    // An old id (PAT-901234) or another identifier: show the patient's own address.
    history.replaceState({}, '', `${config.appBase}patients/${encodeURIComponent(patient.id)}`);
  }
  main.append(h('h1', {}, patientName(patient)));
  // All the patient's studies, from every hospital, side by side in the bundled image viewer.
  main.append(h('p', { class: 'actions' }, h('a', {
    class: 'button', id: 'compare-with-priors',
    href: `/viewer/IHEInvokeImageDisplay?requestType=PATIENT&patientID=${encodeURIComponent(patient.id)}`,
  }, 'Compare with priors')));
  if (ctx.query.get('registered')) main.append(h('div', { class: 'notice success', role: 'status' }, 'The patient is registered.'));
  main.append(h('section', { class: 'card', 'aria-label': 'Patient details' },
    h('dl', { class: 'facts', id: 'patient-facts' },
      h('dt', {}, 'National ID'), h('dd', {}, identifierValue(patient, config.nationalIdSystem) || '—'),
      h('dt', {}, 'Date of birth'), h('dd', {}, formatDate(patient.birthDate)),
      h('dt', {}, 'Gender'), h('dd', {}, patient.gender || '—'),
      h('dt', {}, 'Phone'), h('dd', {}, phone(patient) || '—'),
      h('dt', {}, 'Old ID'), h('dd', {}, legacyId(patient) || '—'),
      h('dt', {}, 'Patient ID'), h('dd', { class: 'mono' }, patient.id))));

  const studies = h('section', { class: 'card', 'aria-labelledby': 'studies-heading', id: 'patient-studies' },
    h('h2', { id: 'studies-heading' }, 'Imaging at all hospitals'), h('p', { class: 'loading' }, 'Asking every hospital…'));
  main.append(studies);
  main.append(sharePanel({ patientId: patient.id }));
  const bundle = await fhir('ImagingStudy', {
    params: [['patient', `Patient/${patient.id}`], ['_sort', '-started'], ['_count', '100'], ...FEDERATION_INCLUDES],
  });
  if (!ctx.current()) return;
  studies.replaceChildren(h('h2', { id: 'studies-heading' }, 'Imaging at all hospitals'), federationView(bundle),
    h('p', {}, link(`federation?patient=${encodeURIComponent(patient.id)}`, 'Which hospitals were consulted')));
}

export function openPatient(id) {
  return navigate(`patients/${encodeURIComponent(id)}`);
}
