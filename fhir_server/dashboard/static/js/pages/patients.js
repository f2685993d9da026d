// Patients: search (name, national ID, patient or old id) and registration.

import { ApiError, fhir } from '../api.js';
import { patientLink } from '../components.js';
import { config } from '../config.js';
import { field, h, table } from '../dom.js';
import { busy, clearErrors, formValues, issueErrors, showErrors } from '../forms.js';
import { bundleResources, formatDate, identifierValue, legacyId, patientName, phone } from '../format.js';
import { link, navigate } from '../router.js';

const V2_0203 = 'http://terminology.hl7.org/CodeSystem/v2-0203';
const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

// "John Doe": every word must match a part of the name (given or family): repeated `name` parameters are
// ANDed by FHIR search (a single `name=John Doe` would look for that whole string in one part).
export function nameSearchParams(q) {
  const words = q.split(/[\s,]+/).filter(Boolean);
  return [...words.map((w) => ['name', w]), ['_count', '50']];
}

export async function searchPatients(q) {
  const searches = [fhir('Patient', { params: { identifier: q, _count: 50 } }), fhir('Patient', { params: nameSearchParams(q) })];
  if (FHIR_ID.test(q)) searches.push(fhir('Patient', { params: { _id: q } }));
  const results = await Promise.allSettled(searches);
  const found = new Map();
  for (const result of results) {
    if (result.status !== 'fulfilled') continue;
    for (const patient of bundleResources(result.value, 'Patient')) found.set(patient.id, patient);
  }
  if (!found.size && results.every((r) => r.status === 'rejected')) throw results[0].reason;
  return [...found.values()].sort((a, b) => patientName(a).localeCompare(patientName(b)));
}

function fieldOf(expression) {
  const path = String(expression).replace(/\[\d+\]/g, '');
  const map = [
    ['Patient.identifier', 'nationalId'], ['Patient.name.family', 'family'], ['Patient.name.given', 'given'],
    ['Patient.name', 'family'], ['Patient.birthDate', 'birthDate'], ['Patient.gender', 'gender'], ['Patient.telecom', 'phone'],
  ];
  const hit = map.find(([prefix]) => path === prefix || path.startsWith(`${prefix}.`));
  return hit ? hit[1] : null;
}

function localErrors(values) {
  const errors = [];
  if (!values.nationalId) errors.push({ field: 'nationalId', message: 'Enter the national ID' });
  if (!values.family) errors.push({ field: 'family', message: 'Enter the family name' });
  if (values.birthDate && values.birthDate > new Date().toISOString().slice(0, 10)) {
    errors.push({ field: 'birthDate', message: 'The date of birth cannot be in the future' });
  }
  if (values.birthDateIncomplete) errors.push({ field: 'birthDate', message: 'Enter the whole date of birth (day, month and year), or leave it empty' });
  return errors;
}

export function patientResource(values) {
  const patient = {
    resourceType: 'Patient',
    active: true,
    identifier: [{
      use: 'official',
      type: { coding: [{ system: V2_0203, code: 'NI', display: 'National unique individual identifier' }] },
      system: config.nationalIdSystem,
      value: values.nationalId,
    }],
    name: [{ use: 'official', family: values.family, ...(values.given ? { given: values.given.split(/\s+/) } : {}) }],
  };
  if (values.birthDate) patient.birthDate = values.birthDate;
  if (values.gender) patient.gender = values.gender;
  if (values.phone) patient.telecom = [{ system: 'phone', value: values.phone, use: 'mobile' }];
  return patient;
}

function registrationForm() {
  return h('form', { id: 'patient-form', novalidate: true },
    field({ name: 'nationalId', label: 'National ID', required: true, attrs: { inputmode: 'numeric', autocomplete: 'off', spellcheck: 'false' } }),
    field({ name: 'family', label: 'Family name', required: true, attrs: { autocomplete: 'off' } }),
    field({ name: 'given', optional: true, label: 'Given names', hint: 'Separated by spaces.', attrs: { autocomplete: 'off' } }),
    field({ name: 'birthDate', optional: true, label: 'Date of birth', type: 'date', attrs: { autocomplete: 'off', max: new Date().toISOString().slice(0, 10) } }),
    field({
      name: 'gender', label: 'Gender', type: 'select',
      options: [['', 'Not recorded'], ['female', 'Female'], ['male', 'Male'], ['other', 'Other'], ['unknown', 'Unknown']],
    }),
    field({ name: 'phone', optional: true, label: 'Phone', type: 'tel', hint: 'With country code, e.g. +255712345678.', attrs: { autocomplete: 'off' } }),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Register patient')));
}

async function register(form) {
  const values = formValues(form);
  // A date picker with only part of a date typed has an empty value but reports badInput.
  values.birthDateIncomplete = Boolean(form.elements.birthDate.validity && form.elements.birthDate.validity.badInput);
  const errors = localErrors(values);
  if (errors.length) {
    showErrors(form, errors);
    return;
  }
  clearErrors(form);
  const condition = `identifier=${encodeURIComponent(`${config.nationalIdSystem}|${values.nationalId}`)}`;
  let response;
  try {
    response = await fhir('Patient', { method: 'POST', body: patientResource(values), headers: { 'If-None-Exist': condition }, raw: true });
  } catch (error) {
    showErrors(form, issueErrors(error, fieldOf));
    return;
  }
  const patient = await response.json();
  if (response.status === 200) {
    // If-None-Exist matched: this national ID is already registered.
    showErrors(form, [{
      field: 'nationalId',
      message: h('span', {}, `A patient with national ID ${values.nationalId} is already registered: `,
        link(`patients/${encodeURIComponent(patient.id)}`, patientName(patient)), '.'),
    }]);
    return;
  }
  navigate(`patients/${encodeURIComponent(patient.id)}?registered=1`);
}

export async function patientsPage(ctx) {
  const { main, query } = ctx;
  const q = (query.get('q') || '').trim();
  const input = h('input', { id: 'patient-search', name: 'q', type: 'search', value: q, autocomplete: 'off', 'aria-describedby': 'patient-search-hint' });
  const searchForm = h('form', { class: 'card', role: 'search', 'aria-label': 'Find patients' },
    h('div', { class: 'inline-form' },
      h('div', { class: 'field' },
        h('label', { for: 'patient-search' }, 'Find a patient'),
        h('p', { class: 'hint', id: 'patient-search-hint' }, 'Name, national ID, or patient ID (also old IDs like PAT-901234).'),
        input),
      h('button', { type: 'submit' }, 'Search')));
  searchForm.addEventListener('submit', (event) => {
    event.preventDefault();
    navigate(`patients?q=${encodeURIComponent(input.value.trim())}`);
  });
  const results = h('section', { 'aria-live': 'polite', id: 'patient-results' });
  const form = registrationForm();
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    await busy(form.querySelector('button[type=submit]'), () => register(form));
  });
  main.append(h('h1', {}, 'Patients'), searchForm, results,
    h('section', { class: 'card', 'aria-labelledby': 'register-patient' }, h('h2', { id: 'register-patient' }, 'Register a patient'), form));
  if (!q) return;
  results.append(h('p', { class: 'loading' }, 'Searching…'));
  let found;
  try {
    found = await searchPatients(q);
  } catch (error) {
    if (!ctx.current()) return;
    results.replaceChildren(h('div', { class: 'notice error', role: 'alert' }, error instanceof ApiError ? error.message : String(error)));
    return;
  }
  if (!ctx.current()) return;
  results.replaceChildren(h('div', { class: 'card' },
    h('h2', {}, `${found.length} ${found.length === 1 ? 'patient' : 'patients'} found for “${q}”`),
    table(['Name', 'National ID', 'Date of birth', 'Gender', 'Phone', 'Old ID'],
      found.map((p) => [patientLink(p), identifierValue(p, config.nationalIdSystem) || '—', formatDate(p.birthDate), p.gender || '—', phone(p) || '—', legacyId(p) || '—']),
      { empty: 'No patient matches. Check the spelling or the number, or register the patient below.' })));
}
