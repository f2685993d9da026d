// Pieces several pages share: hospital status, study cards with thumbnails, patient resolution.

import { ApiError, fhir, imageUrl, request, serverUrl } from './api.js';
import { config } from './config.js';
import { h, statusBadge } from './dom.js';
import {
  bundleResources, formatDate, hospitalsOfStudies, modalities, patientName, proxyEndpointId, refId, studyTitle, studyUid,
} from './format.js';
import { link } from './router.js';

// -- hospitals and their PACS ---------------------------------------------------------------------------

export async function readiness() {
  const response = await fetch(serverUrl('health/ready'), { cache: 'no-store' });
  try {
    return await response.json();
  } catch {
    return { status: 'fail', checks: {} };
  }
}

// Each hospital's PACS check (/health/orthanc). It names hospitals and their state, so the server shows it to
// operators only (admin or system/ scope); anyone else gets null and sees no PACS state.
export async function orthancChecks() {
  try {
    return await request(serverUrl('health/orthanc'));
  } catch (error) {
    if (error instanceof ApiError && error.status === 403) return null;
    throw error;
  }
}

// Every hospital: its Organization, its Orthanc check (/health/orthanc) and its last sync (/app/api/hospitals).
// `check` is null for a hospital without one, undefined when the caller may not see PACS state.
export async function hospitalStatus() {
  const [ready, orthanc, sync, organizations] = await Promise.all([
    readiness(),
    orthancChecks(),
    request(`${config.appBase}api/hospitals`),
    fhir('Organization', { params: { _count: 500, _sort: 'name' } }),
  ]);
  const checks = orthanc ? new Map((orthanc.hospitals || []).map((c) => [c.organization, c])) : null;
  const checkOf = (key) => (checks ? checks.get(key) || null : undefined);
  const syncs = new Map((sync.hospitals || []).map((s) => [s.organization, s]));
  const hospitals = bundleResources(organizations, 'Organization').map((org) => {
    const key = `Organization/${org.id}`;
    return { id: org.id, organization: org, name: org.name || org.id, check: checkOf(key), sync: syncs.get(key) || null };
  });
  for (const [key, s] of syncs) {
    if (!hospitals.some((x) => `Organization/${x.id}` === key)) {
      hospitals.push({ id: refId(key), organization: null, name: s.name, check: checkOf(key), sync: s });
    }
  }
  return { ready, pacsVisible: checks !== null, hospitals, syncInterval: sync.syncIntervalSeconds ?? 0 };
}

export function hospitalIdentifier(hospital) {
  if (hospital.sync) return hospital.sync.identifier;
  const found = ((hospital.organization && hospital.organization.identifier) || []).find((i) => i.system === config.hospitalIdSystem);
  return found ? found.value : '—';
}

export function pacsCell(hospital) {
  if (hospital.check === undefined) return statusBadge('none', 'operators only');
  if (!hospital.check) return statusBadge('none', 'not connected');
  const cell = [statusBadge(hospital.check.status, hospital.check.status === 'up' ? 'up' : 'down')];
  if (hospital.check.error) cell.push(h('div', { class: 'muted' }, hospital.check.error));
  return cell;
}

export function latencyText(check) {
  return check && check.latencyMs !== null && check.latencyMs !== undefined ? `${check.latencyMs} ms` : '—';
}

export function lastSyncCell(hospital) {
  if (!hospital.sync) return '—';
  const parts = [hospital.sync.lastSync ? formatDate(hospital.sync.lastSync) : 'never'];
  if (hospital.sync.lastSyncError) parts.push(h('div', { class: 'field-error' }, `Last sync failed: ${hospital.sync.lastSyncError}`));
  return parts;
}

// -- thumbnails: rendered frames through our DICOMweb proxy, fetched with the token ---------------------

const queue = [];
let active = 0;
const PARALLEL = 4;

function schedule(task) {
  return new Promise((resolve, reject) => {
    queue.push([task, resolve, reject]);
    pump();
  });
}

function pump() {
  while (active < PARALLEL && queue.length) {
    const [task, resolve, reject] = queue.shift();
    active += 1;
    task().then(resolve, reject).finally(() => {
      active -= 1;
      pump();
    });
  }
}

function firstInstance(study) {
  for (const series of study.series || []) {
    for (const instance of series.instance || []) return [series.uid, instance.uid];
  }
  return null;
}

const TAG_SERIES_UID = '0020000E';
const TAG_SOP_UID = '00080018';
const tagValue = (item, tag) => ((item[tag] || {}).Value || [])[0];

export function proxyBase(endpointId) {
  return serverUrl(`dicomweb/${encodeURIComponent(endpointId)}`);
}

export async function qidoInstances(study, limit) {
  const endpoint = proxyEndpointId(study);
  const uid = studyUid(study);
  if (!endpoint || !uid) return [];
  const params = limit ? { limit } : undefined;
  const found = await request(`${proxyBase(endpoint)}/studies/${uid}/instances`, { params, headers: { Accept: 'application/dicom+json' } });
  return (found || []).map((item) => ({ series: tagValue(item, TAG_SERIES_UID), instance: tagValue(item, TAG_SOP_UID), item }));
}

export function thumbnail(study, { series, instance, label, size = 96 } = {}) {
  const box = h('div', { class: 'thumb' }, h('span', {}, 'Loading image…'));
  schedule(async () => {
    const endpoint = proxyEndpointId(study);
    const uid = studyUid(study);
    if (!endpoint || !uid) throw new Error('no image address');
    let pair = series && instance ? [series, instance] : firstInstance(study);
    if (!pair) {
      const [first] = await qidoInstances(study, 1);
      if (!first) throw new Error('no instances');
      pair = [first.series, first.instance];
    }
    const url = `${proxyBase(endpoint)}/studies/${uid}/series/${pair[0]}/instances/${pair[1]}/frames/1/rendered`;
    const src = await imageUrl(url, 'image/jpeg');
    const img = h('img', { src, alt: label || `First image of ${studyTitle(study)}`, width: size, height: size, class: 'loaded' });
    await img.decode().catch(() => null);
    box.replaceChildren(img);
  }).catch(() => box.replaceChildren(h('span', {}, 'No image')));
  return box;
}

// -- study lists ------------------------------------------------------------------------------------------

export function studyCard(study, hospital) {
  return h('li', { class: 'study-card', dataset: { study: study.id } },
    thumbnail(study),
    h('div', { class: 'meta' },
      h('div', { class: 'title' }, link(`studies/${encodeURIComponent(study.id)}`, studyTitle(study))),
      h('div', {}, formatDate(study.started)),
      h('div', {}, modalities(study).map((m) => h('span', { class: 'badge' }, m))),
      hospital ? h('div', { class: 'muted' }, hospital.name) : null));
}

// The federation view: the studies of a searchset (with _include endpoint + organization), by hospital.
export function studiesByHospital(bundle) {
  const hospitals = hospitalsOfStudies(bundle);
  const groups = new Map();
  for (const study of bundleResources(bundle, 'ImagingStudy', 'match')) {
    const hospital = hospitals.get(study.id);
    const key = hospital ? hospital.id : '';
    if (!groups.has(key)) groups.set(key, { hospital, studies: [] });
    groups.get(key).studies.push(study);
  }
  return [...groups.values()];
}

export function federationView(bundle) {
  const groups = studiesByHospital(bundle);
  const count = groups.reduce((n, g) => n + g.studies.length, 0);
  if (!count) return h('p', { class: 'muted' }, 'No imaging studies found at any hospital.');
  const named = groups.filter((g) => g.hospital).length;
  return h('div', { class: 'federation' },
    h('p', { id: 'federation-summary' }, `${count} ${count === 1 ? 'study' : 'studies'} at ${named} ${named === 1 ? 'hospital' : 'hospitals'}.`),
    groups.map((group) => {
      const name = group.hospital ? group.hospital.name : 'Hospital unknown';
      return h('section', { class: 'hospital-group', dataset: { hospital: group.hospital ? group.hospital.id : '' } },
        h('h3', {}, group.hospital ? link(`hospitals/${encodeURIComponent(group.hospital.id)}`, name) : name,
          ` (${group.studies.length})`),
        h('ul', { class: 'study-cards' }, group.studies.map((s) => studyCard(s, group.hospital))));
    }));
}

export const FEDERATION_INCLUDES = [
  ['_include', 'ImagingStudy:endpoint'],
  ['_include:iterate', 'Endpoint:organization'],
];

// -- patients ---------------------------------------------------------------------------------------------

// A patient by FHIR id, or by an old application id (PAT-901234) or other identifier value.
export async function resolvePatient(id) {
  try {
    return await fhir(`Patient/${encodeURIComponent(id)}`);
  } catch (error) {
    if (!(error instanceof ApiError) || (error.status !== 404 && error.status !== 410 && error.status !== 400)) throw error;
  }
  const found = bundleResources(await fhir('Patient', { params: { identifier: id } }), 'Patient');
  return found.length === 1 ? found[0] : null;
}

export function patientLink(patient) {
  return link(`patients/${encodeURIComponent(patient.id)}`, patientName(patient));
}
