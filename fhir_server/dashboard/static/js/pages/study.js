// A study: where it is, its series and images (rendered through the DICOMweb proxy), and its QR code.

import { ApiError, fhir } from '../api.js';
import { proxyBase, qidoInstances, thumbnail } from '../components.js';
import { h } from '../dom.js';
import { formatDate, modalities, patientName, proxyEndpointId, refId, studyTitle, studyUid } from '../format.js';
import { link } from '../router.js';
import { sharePanel } from './share.js';

const SHOWN = 8;

async function optional(promise) {
  try {
    return await promise;
  } catch (error) {
    if (error instanceof ApiError) return null;
    throw error;
  }
}

// Series with their instances: from the ImagingStudy when the sync recorded them, else asked from the PACS.
async function seriesOf(study) {
  const listed = (study.series || []).filter((s) => (s.instance || []).length);
  if (listed.length) {
    return listed.map((s) => ({
      uid: s.uid, number: s.number, modality: s.modality && s.modality.code, description: s.description,
      count: s.numberOfInstances || s.instance.length, instances: s.instance.map((i) => i.uid),
    }));
  }
  const found = await qidoInstances(study);
  const bySeries = new Map();
  for (const item of found) {
    if (!bySeries.has(item.series)) bySeries.set(item.series, { uid: item.series, instances: [], count: 0 });
    const entry = bySeries.get(item.series);
    entry.instances.push(item.instance);
    entry.count += 1;
    entry.modality = entry.modality || ((item.item['00080060'] || {}).Value || [])[0];
    entry.number = entry.number || ((item.item['00200011'] || {}).Value || [])[0];
    entry.description = entry.description || ((item.item['0008103E'] || {}).Value || [])[0];
  }
  return [...bySeries.values()];
}

export async function studyPage(ctx) {
  const { main } = ctx;
  const [id] = ctx.params;
  main.append(h('p', { class: 'loading' }, 'Loading study…'));
  let study;
  try {
    study = await fhir(`ImagingStudy/${encodeURIComponent(id)}`);
  } catch (error) {
    if (!(error instanceof ApiError) || ![404, 410].includes(error.status)) throw error;
    if (!ctx.current()) return;
    main.replaceChildren(h('h1', {}, 'Study not found'), h('p', {}, `No study has the id “${id}”. `, link('studies', 'All studies')));
    return;
  }
  const patientId = refId(study.subject);
  const endpointId = proxyEndpointId(study);
  const [patient, endpoint] = await Promise.all([
    patientId ? optional(fhir(`Patient/${encodeURIComponent(patientId)}`)) : null,
    endpointId ? optional(fhir(`Endpoint/${encodeURIComponent(endpointId)}`)) : null,
  ]);
  const orgId = endpoint ? refId(endpoint.managingOrganization) : null;
  const org = orgId ? await optional(fhir(`Organization/${encodeURIComponent(orgId)}`)) : null;
  if (!ctx.current()) return;
  main.replaceChildren(h('h1', {}, studyTitle(study)));
  // The bundled image viewer (/viewer/), opened through IHE Invoke Image Display in this tab (same session).
  if (studyUid(study)) {
    main.append(h('p', { class: 'actions' }, h('a', {
      class: 'button', id: 'open-in-viewer',
      href: `/viewer/IHEInvokeImageDisplay?requestType=STUDY&studyUID=${encodeURIComponent(studyUid(study))}`,
    }, 'Open in viewer')));
  }
  main.append(h('section', { class: 'card', 'aria-label': 'Study details' },
    h('dl', { class: 'facts', id: 'study-facts' },
      h('dt', {}, 'Patient'), h('dd', {}, patient ? link(`patients/${encodeURIComponent(patient.id)}`, patientName(patient)) : (patientId || '—')),
      h('dt', {}, 'Hospital'), h('dd', {}, org ? link(`hospitals/${encodeURIComponent(org.id)}`, org.name || org.id) : '—'),
      h('dt', {}, 'Date'), h('dd', {}, formatDate(study.started)),
      h('dt', {}, 'Modality'), h('dd', {}, modalities(study).join(', ') || '—'),
      h('dt', {}, 'Status'), h('dd', {}, study.status || '—'),
      h('dt', {}, 'Series / images'), h('dd', {}, `${study.numberOfSeries ?? (study.series || []).length} / ${study.numberOfInstances ?? '—'}`),
      h('dt', {}, 'Study UID'), h('dd', { class: 'mono' }, studyUid(study) || '—'),
      endpointId && studyUid(study) ? [h('dt', {}, 'DICOMweb'), h('dd', { class: 'mono' }, `${proxyBase(endpointId)}/studies/${studyUid(study)}`)] : null)));

  const seriesSection = h('section', { class: 'card', 'aria-labelledby': 'series-heading', id: 'series' },
    h('h2', { id: 'series-heading' }, 'Series and images'), h('p', { class: 'loading' }, 'Loading images…'));
  main.append(seriesSection);
  if (patientId) main.append(sharePanel({ patientId, studyId: study.id, heading: 'Study QR code' }));

  let series = [];
  let problem = null;
  try {
    series = await seriesOf(study);
  } catch (error) {
    problem = error.message;
  }
  if (!ctx.current()) return;
  seriesSection.replaceChildren(h('h2', { id: 'series-heading' }, 'Series and images'));
  if (!series.length) {
    seriesSection.append(h('p', { class: 'muted' }, problem
      ? `The images could not be loaded: ${problem}`
      : 'No images of this study are available from the hospital\'s PACS.'));
    return;
  }
  for (const s of series) {
    const list = h('ul', { class: 'instances' });
    const title = `Series ${s.number ?? ''}${s.description ? `: ${s.description}` : ''}`.trim();
    const show = (instances) => {
      list.replaceChildren(...instances.map((instance, i) => h('li', {},
        thumbnail(study, { series: s.uid, instance, size: 128, label: `${title}, image ${i + 1}` }))));
    };
    show(s.instances.slice(0, SHOWN));
    const section = h('section', { class: 'series', dataset: { series: s.uid } },
      h('h3', {}, title, ` · ${s.modality || ''} · ${s.count} ${s.count === 1 ? 'image' : 'images'}`), list);
    if (s.instances.length > SHOWN) {
      const all = h('button', { type: 'button', class: 'secondary small' }, `Show all ${s.instances.length} images`);
      all.addEventListener('click', () => { show(s.instances); all.remove(); });
      section.append(all);
    }
    seriesSection.append(section);
  }
}
