// Hospitals: list with PACS status and how fresh each one's data is; registration, editing and "Sync now"
// (admins); a hospital's studies.
//
// Registering creates (POST /admin/hospitals, 409 for an identifier registered already); editing sends only
// the fields changed (PATCH /admin/hospitals/{id}), so an empty password field keeps the stored password and
// untouched issuers stay as they are. The server tries the Orthanc before saving: its field errors land
// next to the field; "Save even if the PACS cannot be reached" saves anyway.

import { ApiError, fhir, follow, request, serverUrl } from '../api.js';
import { auth } from '../auth.js';
import {
  hospitalIdentifier, hospitalStatus, latencyText, pacsCell,
} from '../components.js';
import { announce, field, h, table } from '../dom.js';
import { busy, clearErrors, formValues, issueErrors, showErrors } from '../forms.js';
import { bundleResources, formatDate, modalities, nextLink, patientName, refId, studyTitle } from '../format.js';
import { freshnessCell, intervalText } from '../freshness.js';
import { link, navigate } from '../router.js';

const FIELDS = {
  name: 'name', identifier: 'identifier', orthanc_url: 'orthancUrl', orthancurl: 'orthancUrl',
  orthanc_user: 'orthancUser', orthancuser: 'orthancUser', orthanc_password: 'orthancPassword', orthancpassword: 'orthancPassword',
  nationalidsource: 'nationalIdSource', nationalidissuers: 'nationalIdIssuers', patientidsystem: 'patientIdSystem',
};

const SOURCES = [
  ['issuer', 'A Patient ID whose issuer (0010,0021) is one of the issuers below'],
  ['patient-id', 'The Patient ID itself is the national ID'],
];

function fieldOf(expression) {
  return FIELDS[String(expression).toLowerCase()] || null;
}

function required(values, names) {
  const labels = { name: "Enter the hospital's name", identifier: 'Enter the hospital identifier, e.g. HOS-004', orthancUrl: "Enter the address of the hospital's Orthanc, e.g. http://pacs.example:8042" };
  return names.filter((n) => !values[n]).map((n) => ({ field: n, message: labels[n] }));
}

function issuerList(text) {
  return [...new Set(String(text || '').split(/[,\n]/).map((x) => x.trim()).filter(Boolean))];
}

function formErrors(form, error) {
  if (error instanceof ApiError && error.status === 403) {
    showErrors(form, [{ field: null, message: 'Only administrators may register or change hospitals.' }]);
  } else {
    showErrors(form, issueErrors(error, fieldOf));
  }
}

async function createHospital(form) {
  const values = formValues(form);
  const missing = required(values, ['name', 'identifier', 'orthancUrl']);
  if (missing.length) {
    showErrors(form, missing);
    return null;
  }
  clearErrors(form);
  const body = {
    name: values.name, identifier: values.identifier, orthancUrl: values.orthancUrl,
    nationalIdSource: values.nationalIdSource || 'issuer', nationalIdIssuers: issuerList(values.nationalIdIssuers),
  };
  if (values.orthancUser) body.orthancUser = values.orthancUser;
  if (values.orthancPassword) body.orthancPassword = values.orthancPassword;
  if (values.allowOffline) body.allowOffline = true;
  try {
    return await request(serverUrl('admin/hospitals'), { method: 'POST', body, headers: { 'Content-Type': 'application/json' } });
  } catch (error) {
    formErrors(form, error);
    return null;
  }
}

// Only what differs from what was loaded: the server keeps everything else (and the password when empty).
function changesOf(values, current) {
  const body = {};
  for (const name of ['name', 'orthancUrl', 'orthancUser', 'nationalIdSource']) {
    if ((values[name] || '') !== (current[name] || '')) body[name] = values[name];
  }
  const issuers = issuerList(values.nationalIdIssuers);
  if (issuers.join('\n') !== (current.nationalIdIssuers || []).join('\n')) body.nationalIdIssuers = issuers;
  if (values.orthancPassword) body.orthancPassword = values.orthancPassword;
  if (values.allowOffline) body.allowOffline = true;
  return body;
}

async function updateHospital(form, orgId, current) {
  const values = formValues(form);
  const missing = required(values, ['name', 'orthancUrl']);
  if (missing.length) {
    showErrors(form, missing);
    return null;
  }
  clearErrors(form);
  try {
    return await request(serverUrl(`admin/hospitals/${encodeURIComponent(orgId)}`), {
      method: 'PATCH', body: changesOf(values, current), headers: { 'Content-Type': 'application/json' },
    });
  } catch (error) {
    formErrors(form, error);
    return null;
  }
}

function hospitalForm({ id, submitLabel, values = {}, identifierLocked = false, editing = false }) {
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
      hint: editing ? 'Leave empty to keep the stored password.' : null, attrs: { autocomplete: 'new-password' },
    }),
    h('fieldset', {},
      h('legend', {}, 'Identity rules'),
      field({
        name: 'nationalIdSource', label: 'Where this PACS keeps national IDs', type: 'select', value: values.nationalIdSource || 'issuer', options: SOURCES,
      }),
      field({
        name: 'nationalIdIssuers', label: 'National-ID issuers', optional: true, value: (values.nationalIdIssuers || []).join(', '),
        hint: 'Issuer of Patient ID texts this PACS writes for national IDs, separated by commas, e.g. NATIONAL.',
        attrs: { spellcheck: 'false', autocomplete: 'off' },
      })),
    field({
      name: 'allowOffline', type: 'checkbox', label: 'Save even if the PACS cannot be reached',
      hint: 'The server tries the Orthanc address and credentials before saving. Tick this for a PACS down for maintenance.',
    }),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, submitLabel)));
}

export async function hospitalsPage(ctx) {
  const { main } = ctx;
  main.append(h('h1', {}, 'Hospitals'), h('p', { class: 'loading' }, 'Loading hospitals…'));
  const { hospitals, syncInterval } = await hospitalStatus();
  const counts = await Promise.all(hospitals.map((x) => fhir('ImagingStudy', {
    params: { 'endpoint.organization': `Organization/${x.id}`, _summary: 'count' },
  }).then((b) => b.total).catch(() => null)));
  if (!ctx.current()) return;
  main.replaceChildren(h('h1', {}, 'Hospitals'));
  main.append(h('section', { class: 'card', 'aria-label': 'Registered hospitals' },
    h('p', { class: 'muted', id: 'sync-interval' }, intervalText(syncInterval)),
    table(['Hospital', 'Identifier', 'PACS (Orthanc)', 'Version', 'Latency', 'Data', 'Studies'],
      hospitals.map((x, i) => [
        link(`hospitals/${encodeURIComponent(x.id)}`, x.name), hospitalIdentifier(x), pacsCell(x),
        (x.check && x.check.version) || '—', latencyText(x.check), freshnessCell(x, syncInterval), counts[i] ?? '—']),
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
    const result = await busy(button, () => createHospital(form));
    if (result) {
      announce(`${result.name} registered`);
      const offline = result.connectionCheck && !result.connectionCheck.ok ? '&offline=1' : '';
      navigate(`hospitals/${encodeURIComponent(refId(result.organization))}?registered=1${offline}`);
    }
  });
  main.append(h('section', { class: 'card', 'aria-labelledby': 'register-hospital' },
    h('h2', { id: 'register-hospital' }, 'Register a hospital'),
    h('p', { class: 'muted' }, 'The server reaches the hospital\'s Orthanc at this address; clients only ever see this server\'s DICOMweb proxy.'),
    form));
}

function syncSummary(result) {
  if (result.skipped) return h('div', { class: 'notice warning' }, `Not synced: ${result.skipped}. Try again in a moment.`);
  const n = (count, one, many) => `${count} ${count === 1 ? one : many}`;
  const counts = `${n(result.created, 'new study', 'new studies')}, ${result.updated} updated, ${result.unchanged} unchanged, `
    + `${result.markedDeleted} deleted in the PACS${result.repaired ? `, ${result.repaired} repaired` : ''}, `
    + `${n(result.createdPatients.length, 'new patient', 'new patients')}.`;
  if (result.failure) {
    return h('div', { class: 'notice error' }, h('strong', {}, 'The sync stopped: '), result.failure, h('p', {}, `So far: ${counts}`));
  }
  return h('div', { class: 'notice success' }, h('strong', {}, 'Synced. '), counts,
    result.studyErrors.length ? h('ul', {}, result.studyErrors.map((e) => h('li', {}, `Not mapped: ${e}`))) : null);
}

function syncSection(orgId, hospital, onDone) {
  const button = h('button', { type: 'button', id: 'sync-now' }, 'Sync now');
  const progress = h('div', { class: 'sync-progress', id: 'sync-progress', hidden: true },
    h('progress', { 'aria-label': `Syncing ${hospital.name}` }), h('span', {}, `Syncing ${hospital.name}… a large PACS can take a while.`));
  const outcome = h('div', { id: 'sync-result', role: 'status', 'aria-live': 'polite' });
  button.addEventListener('click', async () => {
    outcome.replaceChildren();
    progress.hidden = false;
    try {
      const result = await busy(button, () => request(serverUrl(`admin/hospitals/${encodeURIComponent(orgId)}/sync`), { method: 'POST' }));
      outcome.replaceChildren(syncSummary(result));
      announce(result.completed ? `${hospital.name} synced` : `Sync of ${hospital.name} did not complete`);
      onDone(result);
    } catch (error) {
      outcome.replaceChildren(h('div', { class: 'notice error' }, error.message));
    } finally {
      progress.hidden = true;
    }
  });
  return h('section', { class: 'card', 'aria-labelledby': 'sync-heading' },
    h('h2', { id: 'sync-heading' }, 'Sync with the PACS'),
    h('p', { class: 'muted' }, 'Fetch new and changed studies from this hospital\'s Orthanc now, without waiting for the next automatic sync.'),
    h('div', { class: 'actions' }, button), progress, outcome);
}

export async function hospitalPage(ctx) {
  const { main } = ctx;
  const [orgId] = ctx.params;
  main.append(h('p', { class: 'loading' }, 'Loading…'));
  const { hospitals, syncInterval } = await hospitalStatus();
  const hospital = hospitals.find((x) => x.id === orgId);
  if (!ctx.current()) return;
  main.replaceChildren();
  if (!hospital) {
    main.append(h('h1', {}, 'Hospital not found'), h('p', {}, `No hospital with id ${orgId}. `, link('hospitals', 'All hospitals')));
    return;
  }
  main.append(h('h1', {}, hospital.name));
  if (ctx.query.get('registered')) main.append(h('div', { class: 'notice success', role: 'status', id: 'registered-notice' }, `${hospital.name} is registered.`));
  if (ctx.query.get('offline')) main.append(h('div', { class: 'notice warning', role: 'status', id: 'offline-notice' }, 'It was saved without a working connection to its PACS: images and new studies appear once the PACS can be reached.'));
  const check = hospital.check;
  const freshnessFact = h('dd', { id: 'hospital-freshness' }, freshnessCell(hospital, syncInterval));
  main.append(h('section', { class: 'card', 'aria-label': 'Hospital details' },
    h('dl', { class: 'facts', id: 'hospital-facts' },
      h('dt', {}, 'Identifier'), h('dd', {}, hospitalIdentifier(hospital)),
      h('dt', {}, 'PACS (Orthanc)'), h('dd', {}, pacsCell(hospital)),
      h('dt', {}, 'Orthanc version'), h('dd', {}, (check && check.version) || '—'),
      h('dt', {}, 'Latency'), h('dd', {}, latencyText(check)),
      h('dt', {}, 'Data'), freshnessFact,
      h('dt', {}, 'DICOMweb'), h('dd', {}, hospital.sync ? hospital.sync.endpoints.join(', ') : 'not connected'))));

  const studies = h('section', { class: 'card', 'aria-labelledby': 'hospital-studies' });
  const loadStudies = () => {
    studies.replaceChildren(h('h2', { id: 'hospital-studies' }, 'Studies at this hospital'), h('p', { class: 'loading' }, 'Loading…'));
    return studyTable(ctx, studies, fhir('ImagingStudy', {
      params: [['endpoint.organization', `Organization/${orgId}`], ['_sort', '-started'], ['_count', '25'], ['_include', 'ImagingStudy:patient']],
    }));
  };

  if (auth.isAdmin()) {
    let registered = null;
    try {
      const listing = await request(serverUrl('admin/hospitals'));
      registered = (listing.hospitals || []).find((x) => x.organization === `Organization/${orgId}`) || null;
    } catch {
      // shown without the Orthanc connection; saving still works
    }
    if (!ctx.current()) return;
    if (registered) {
      main.append(syncSection(orgId, hospital, (result) => {
        freshnessFact.replaceChildren(freshnessCell({ ...hospital, sync: { ...hospital.sync, ...result } }, syncInterval));
        loadStudies();
      }));
    }
    main.append(editSection(main, orgId, hospital, registered));
  }

  main.append(studies);
  await loadStudies();
}

function editSection(main, orgId, hospital, registered) {
  const identifier = hospitalIdentifier(hospital) === '—' ? '' : hospitalIdentifier(hospital);
  let current = registered
    ? {
      name: registered.name, identifier: registered.identifier, orthancUrl: registered.orthancUrl, orthancUser: registered.orthancUser || '',
      nationalIdSource: registered.nationalIdSource || 'issuer', nationalIdIssuers: registered.nationalIdIssuers || [],
    }
    : { name: hospital.name, identifier, nationalIdSource: 'issuer', nationalIdIssuers: [] };
  const form = hospitalForm({
    id: 'hospital-edit-form', submitLabel: registered ? 'Save changes' : 'Connect PACS', values: current,
    identifierLocked: Boolean(current.identifier), editing: Boolean(registered),
  });
  const note = h('div', { role: 'status', id: 'hospital-edit-note' });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    note.replaceChildren();
    const button = form.querySelector('button[type=submit]');
    const result = await busy(button, () => (registered ? updateHospital(form, orgId, current) : createHospital(form)));
    if (!result) return;
    if (!registered) {
      navigate(`hospitals/${encodeURIComponent(refId(result.organization))}?registered=1`);
      return;
    }
    current = {
      name: result.name, identifier: result.identifier, orthancUrl: result.orthancUrl, orthancUser: result.orthancUser || '',
      nationalIdSource: result.nationalIdSource, nationalIdIssuers: result.nationalIdIssuers,
    };
    form.elements.orthancPassword.value = '';
    form.elements.allowOffline.checked = false;
    main.querySelector('#registered-notice')?.remove();
    main.querySelector('h1').textContent = result.name;
    const saved = [h('div', { class: 'notice success' }, `Saved. ${result.name} uses ${result.orthancUrl}.`)];
    if (result.connectionCheck && !result.connectionCheck.ok) {
      saved.push(h('div', { class: 'notice warning' }, `Saved without a working connection: ${result.connectionCheck.message}`));
    }
    note.replaceChildren(...saved);
    announce(`${result.name} saved`);
  });
  return h('section', { class: 'card', 'aria-labelledby': 'edit-hospital' },
    h('h2', { id: 'edit-hospital' }, registered ? 'Edit hospital' : 'Connect this hospital\'s PACS'), note, form);
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
    const next = nextLink(bundle);
    if (!next) {
      more.hidden = true;
      return;
    }
    bundle = await busy(more, () => follow(next));
    addRows(bundle);
  });
  section.append(tableEl, h('div', { class: 'pager' }, more));
}
