// Hospitals: list with PACS status and last sync; registration and editing (admins); a hospital's studies.

import { ApiError, fhir, follow, request, serverUrl } from '../api.js';
import { auth } from '../auth.js';
import {
  hospitalIdentifier, hospitalStatus, lastSyncCell, latencyText, pacsCell,
} from '../components.js';
import { announce, field, h, table } from '../dom.js';
import { busy, clearErrors, formValues, issueErrors, showErrors } from '../forms.js';
import { bundleResources, formatDate, modalities, nextLink, patientName, refId, studyTitle } from '../format.js';
import { link, navigate } from '../router.js';

const FIELDS = {
  name: 'name', identifier: 'identifier', orthanc_url: 'orthancUrl', orthancurl: 'orthancUrl',
  orthanc_user: 'orthancUser', orthancuser: 'orthancUser', orthanc_password: 'orthancPassword', orthancpassword: 'orthancPassword',
};

function fieldOf(expression) {
  return FIELDS[String(expression).toLowerCase()] || null;
}

function required(values, names) {
  const labels = { name: "Enter the hospital's name", identifier: 'Enter the hospital identifier, e.g. HOS-004', orthancUrl: "Enter the address of the hospital's Orthanc, e.g. http://pacs.example:8042" };
  return names.filter((n) => !values[n]).map((n) => ({ field: n, message: labels[n] }));
}

async function submitHospital(form, { identifierLocked }) {
  const values = formValues(form);
  const missing = required(values, identifierLocked ? ['name', 'orthancUrl'] : ['name', 'identifier', 'orthancUrl']);
  if (missing.length) {
    showErrors(form, missing);
    return null;
  }
  clearErrors(form);
  const body = { name: values.name, identifier: values.identifier, orthancUrl: values.orthancUrl };
  if (values.orthancUser) body.orthancUser = values.orthancUser;
  if (values.orthancPassword) body.orthancPassword = values.orthancPassword;
  try {
    return await request(serverUrl('admin/hospitals'), { method: 'POST', body, headers: { 'Content-Type': 'application/json' } });
  } catch (error) {
    if (error instanceof ApiError && error.status === 403) {
      showErrors(form, [{ field: null, message: 'Only administrators may register or change hospitals.' }]);
    } else {
      showErrors(form, issueErrors(error, fieldOf));
    }
    return null;
  }
}

function hospitalForm({ id, submitLabel, values = {}, identifierLocked = false }) {
  return h('form', { id, novalidate: true },
    field({ name: 'name', label: 'Name', value: values.name, required: true, attrs: { autocomplete: 'organization' } }),
    field({
      name: 'identifier', label: 'Hospital identifier', value: values.identifier, required: true,
      hint: identifierLocked ? 'The identifier cannot be changed.' : 'The hospital code, e.g. HOS-004 (no spaces).',
      attrs: { readonly: identifierLocked, autocapitalize: 'characters', spellcheck: 'false' },
    }),
    field({
      name: 'orthancUrl', label: 'Orthanc address', value: values.orthancUrl, required: true, type: 'url',
      hint: 'The REST address of the hospital\'s Orthanc, e.g. http://pacs.hospital.example:8042', attrs: { spellcheck: 'false' },
    }),
    field({ name: 'orthancUser', optional: true, label: 'Orthanc user', value: values.orthancUser, attrs: { autocomplete: 'off', spellcheck: 'false' } }),
    field({
      name: 'orthancPassword', label: 'Orthanc password', type: 'password', optional: true,
      hint: identifierLocked ? 'Leave empty to keep the stored password.' : null, attrs: { autocomplete: 'new-password' },
    }),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, submitLabel)));
}

export async function hospitalsPage(ctx) {
  const { main } = ctx;
  main.append(h('h1', {}, 'Hospitals'), h('p', { class: 'loading' }, 'Loading hospitals…'));
  const { hospitals } = await hospitalStatus();
  const counts = await Promise.all(hospitals.map((x) => fhir('ImagingStudy', {
    params: { 'endpoint.organization': `Organization/${x.id}`, _summary: 'count' },
  }).then((b) => b.total).catch(() => null)));
  if (!ctx.current()) return;
  main.replaceChildren(h('h1', {}, 'Hospitals'));
  main.append(h('section', { class: 'card', 'aria-label': 'Registered hospitals' },
    table(['Hospital', 'Identifier', 'PACS (Orthanc)', 'Version', 'Latency', 'Last sync', 'Studies'],
      hospitals.map((x, i) => [
        link(`hospitals/${encodeURIComponent(x.id)}`, x.name), hospitalIdentifier(x), pacsCell(x),
        (x.check && x.check.version) || '—', latencyText(x.check), lastSyncCell(x), counts[i] ?? '—']),
      { empty: 'No hospital is registered yet.' })));
  main.querySelector('table')?.setAttribute('id', 'hospitals-table');

  if (!auth.isAdmin()) {
    main.append(h('p', { class: 'muted' }, 'Hospitals are registered and changed by administrators.'));
    return;
  }
  const form = hospitalForm({ id: 'hospital-form', submitLabel: 'Register hospital' });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = form.querySelector('button[type=submit]');
    const result = await busy(button, () => submitHospital(form, { identifierLocked: false }));
    if (result) {
      announce(`${result.name} registered`);
      navigate(`hospitals/${encodeURIComponent(refId(result.organization))}?registered=1`);
    }
  });
  main.append(h('section', { class: 'card', 'aria-labelledby': 'register-hospital' },
    h('h2', { id: 'register-hospital' }, 'Register a hospital'),
    h('p', { class: 'muted' }, 'The server reaches the hospital\'s Orthanc at this address; clients only ever see this server\'s DICOMweb proxy.'),
    form));
}

export async function hospitalPage(ctx) {
  const { main } = ctx;
  const [orgId] = ctx.params;
  main.append(h('p', { class: 'loading' }, 'Loading…'));
  const { hospitals } = await hospitalStatus();
  const hospital = hospitals.find((x) => x.id === orgId);
  if (!ctx.current()) return;
  main.replaceChildren();
  if (!hospital) {
    main.append(h('h1', {}, 'Hospital not found'), h('p', {}, `No hospital with id ${orgId}. `, link('hospitals', 'All hospitals')));
    return;
  }
  main.append(h('h1', {}, hospital.name));
  if (ctx.query.get('registered')) main.append(h('div', { class: 'notice success', role: 'status', id: 'registered-notice' }, `${hospital.name} is registered.`));
  const check = hospital.check;
  main.append(h('section', { class: 'card', 'aria-label': 'Hospital details' },
    h('dl', { class: 'facts', id: 'hospital-facts' },
      h('dt', {}, 'Identifier'), h('dd', {}, hospitalIdentifier(hospital)),
      h('dt', {}, 'PACS (Orthanc)'), h('dd', {}, pacsCell(hospital)),
      h('dt', {}, 'Orthanc version'), h('dd', {}, (check && check.version) || '—'),
      h('dt', {}, 'Latency'), h('dd', {}, latencyText(check)),
      h('dt', {}, 'Last sync'), h('dd', {}, lastSyncCell(hospital)),
      h('dt', {}, 'DICOMweb'), h('dd', {}, hospital.sync ? hospital.sync.endpoints.join(', ') : 'not connected'))));

  if (auth.isAdmin()) {
    let current = { name: hospital.name, identifier: hospitalIdentifier(hospital) === '—' ? '' : hospitalIdentifier(hospital) };
    try {
      const registered = await request(serverUrl('admin/hospitals'));
      const mine = (registered.hospitals || []).find((x) => x.organization === `Organization/${orgId}`);
      if (mine) current = { ...current, orthancUrl: mine.orthancUrl, orthancUser: mine.orthancUser };
    } catch {
      // shown without the Orthanc address; saving still works
    }
    if (!ctx.current()) return;
    const form = hospitalForm({ id: 'hospital-edit-form', submitLabel: 'Save changes', values: current, identifierLocked: Boolean(current.identifier) });
    const note = h('div', { role: 'status' });
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      note.replaceChildren();
      const result = await busy(form.querySelector('button[type=submit]'), () => submitHospital(form, { identifierLocked: Boolean(current.identifier) }));
      if (result) {
        main.querySelector('#registered-notice')?.remove();
        main.querySelector('h1').textContent = result.name;
        note.replaceChildren(h('div', { class: 'notice success' }, `Saved. ${result.name} now uses ${result.orthancUrl}.`));
      }
    });
    main.append(h('section', { class: 'card', 'aria-labelledby': 'edit-hospital' },
      h('h2', { id: 'edit-hospital' }, 'Edit hospital'), note, form));
  }

  const studies = h('section', { class: 'card', 'aria-labelledby': 'hospital-studies' },
    h('h2', { id: 'hospital-studies' }, 'Studies at this hospital'), h('p', { class: 'loading' }, 'Loading…'));
  main.append(studies);
  await studyTable(ctx, studies, fhir('ImagingStudy', {
    params: [['endpoint.organization', `Organization/${orgId}`], ['_sort', '-started'], ['_count', '25'], ['_include', 'ImagingStudy:patient']],
  }));
}

async function studyTable(ctx, section, pending) {
  let bundle = await pending;
  if (!ctx.current()) return;
  section.querySelector('.loading')?.remove();
  const body = h('tbody');
  const tableEl = h('table', { class: 'responsive', id: 'hospital-studies-table' },
    h('thead', {}, h('tr', {}, ['Date', 'Patient', 'Study', 'Modality'].map((c) => h('th', { scope: 'col' }, c)))), body);
  const more = h('button', { type: 'button', class: 'secondary' }, 'Load more studies');
  const addRows = (page) => {
    const patients = new Map(bundleResources(page, 'Patient').map((p) => [p.id, p]));
    for (const s of bundleResources(page, 'ImagingStudy', 'match')) {
      const patient = patients.get(refId(s.subject));
      body.append(h('tr', {},
        h('td', { 'data-label': 'Date' }, formatDate(s.started)),
        h('td', { 'data-label': 'Patient' }, patient ? link(`patients/${encodeURIComponent(patient.id)}`, patientName(patient)) : '—'),
        h('td', { 'data-label': 'Study' }, link(`studies/${encodeURIComponent(s.id)}`, studyTitle(s))),
        h('td', { 'data-label': 'Modality' }, modalities(s).join(', ') || '—')));
    }
    more.hidden = !nextLink(page);
  };
  addRows(bundle);
  if (!body.children.length) {
    section.append(h('p', { class: 'muted' }, 'No studies at this hospital yet.'));
    return;
  }
  more.addEventListener('click', async () => {
    bundle = await busy(more, () => follow(nextLink(bundle)));
    addRows(bundle);
  });
  section.append(tableEl, h('div', { class: 'pager' }, more));
}
