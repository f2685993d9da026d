// Overview: status of the server, its database and every hospital's PACS; counts; recent studies.

import { fhir, serverUrl } from '../api.js';
import {
  FEDERATION_INCLUDES, hospitalIdentifier, hospitalStatus, lastSyncCell, latencyText, pacsCell,
} from '../components.js';
import { config } from '../config.js';
import { h, statusBadge, table } from '../dom.js';
import { bundleResources, formatDate, hospitalsOfStudies, modalities, patientName, refId, studyTitle } from '../format.js';
import { link, navigate } from '../router.js';

async function count(type) {
  const bundle = await fhir(type, { params: { _summary: 'count' } });
  return bundle.total;
}

async function serverCheck() {
  const started = performance.now();
  const response = await fetch(serverUrl('health/live'), { cache: 'no-store' });
  return { ok: response.ok, latency: Math.round(performance.now() - started) };
}

export async function overviewPage(ctx) {
  const { main } = ctx;
  const statusSection = h('section', { class: 'card', 'aria-labelledby': 'status-heading' },
    h('h2', { id: 'status-heading' }, 'System status'), h('p', { class: 'loading' }, 'Checking…'));
  const countsSection = h('section', { 'aria-label': 'Counts', class: 'grid', id: 'counts' });
  const hospitalsSection = h('section', { class: 'card', 'aria-labelledby': 'pacs-heading' },
    h('h2', { id: 'pacs-heading' }, 'Hospitals and their PACS'), h('p', { class: 'loading' }, 'Checking each Orthanc…'));
  const recentSection = h('section', { class: 'card', 'aria-labelledby': 'recent-heading' },
    h('h2', { id: 'recent-heading' }, 'Recent studies'), h('p', { class: 'loading' }, 'Loading…'));
  const search = h('input', { id: 'quick-search', name: 'q', type: 'search', autocomplete: 'off' });
  const quick = h('form', { class: 'card inline-form', role: 'search', 'aria-label': 'Find a patient' },
    h('div', { class: 'field' }, h('label', { for: 'quick-search' }, 'Find a patient by name, national ID or patient ID'), search),
    h('button', { type: 'submit' }, 'Search'));
  quick.addEventListener('submit', (event) => {
    event.preventDefault();
    navigate(`patients?q=${encodeURIComponent(search.value.trim())}`);
  });
  main.append(h('h1', {}, 'Overview'), quick, statusSection, countsSection, hospitalsSection, recentSection);

  const [status, server, counts, recent] = await Promise.allSettled([
    hospitalStatus(),
    serverCheck(),
    Promise.all([count('Organization'), count('Patient'), count('ImagingStudy')]),
    fhir('ImagingStudy', { params: [['_sort', '-started'], ['_count', '5'], ['_include', 'ImagingStudy:patient'], ...FEDERATION_INCLUDES] }),
  ]);
  if (!ctx.current()) return;

  const ready = status.status === 'fulfilled' ? status.value.ready : null;
  const hospitals = status.status === 'fulfilled' ? status.value.hospitals : [];
  const database = ready && ready.checks ? ready.checks.database : null;
  const connected = hospitals.filter((x) => x.check);
  const up = connected.filter((x) => x.check.status === 'up').length;
  statusSection.replaceChildren(h('h2', { id: 'status-heading' }, 'System status'),
    h('div', { class: 'grid' },
      h('div', { id: 'status-server' }, h('div', { class: 'label' }, 'Server'),
        server.status === 'fulfilled' && server.value.ok ? statusBadge('up') : statusBadge('down'),
        h('div', { class: 'muted' }, `version ${config.version} · ${config.authMode === 'smart' ? 'SMART security on' : 'development mode'}`,
          server.status === 'fulfilled' ? ` · ${server.value.latency} ms` : '')),
      h('div', { id: 'status-database' }, h('div', { class: 'label' }, 'Database'),
        database ? statusBadge(database.status === 'pass' ? 'up' : 'down') : statusBadge('unknown'),
        database && database.latency_ms !== undefined ? h('div', { class: 'muted' }, `${database.latency_ms} ms`) : null,
        database && database.error ? h('div', { class: 'field-error' }, database.error) : null),
      h('div', { id: 'status-pacs' }, h('div', { class: 'label' }, 'Hospital PACS'),
        status.status === 'fulfilled' && !status.value.pacsVisible
          ? statusBadge('unknown', 'operators only')
          : statusBadge(connected.length && up === connected.length ? 'up' : (up ? 'warn' : 'down'), `${up} of ${connected.length} up`))));

  if (counts.status === 'fulfilled') {
    const [orgs, patients, studies] = counts.value;
    countsSection.replaceChildren(
      stat('count-hospitals', orgs, 'Hospitals', 'hospitals'),
      stat('count-patients', patients, 'Patients', 'patients'),
      stat('count-studies', studies, 'Imaging studies', 'studies'));
  } else {
    countsSection.replaceChildren(h('p', { class: 'notice error' }, `Counts unavailable: ${counts.reason.message}`));
  }

  if (status.status === 'fulfilled') {
    hospitalsSection.replaceChildren(h('h2', { id: 'pacs-heading' }, 'Hospitals and their PACS'),
      table(['Hospital', 'Identifier', 'PACS (Orthanc)', 'Version', 'Latency', 'Last sync'],
        hospitals.map((x) => [
          link(`hospitals/${encodeURIComponent(x.id)}`, x.name), hospitalIdentifier(x), pacsCell(x),
          (x.check && x.check.version) || '—', latencyText(x.check), lastSyncCell(x)]),
        { empty: 'No hospital is registered yet.' }));
    hospitalsSection.querySelector('table')?.setAttribute('id', 'orthanc-status');
  } else {
    hospitalsSection.append(h('p', { class: 'notice error' }, status.reason.message));
  }

  if (recent.status === 'fulfilled') {
    const bundle = recent.value;
    const patients = new Map(bundleResources(bundle, 'Patient').map((p) => [p.id, p]));
    const hospitalsOf = hospitalsOfStudies(bundle);
    recentSection.replaceChildren(h('h2', { id: 'recent-heading' }, 'Recent studies'),
      table(['Date', 'Patient', 'Study', 'Modality', 'Hospital'],
        bundleResources(bundle, 'ImagingStudy', 'match').map((s) => {
          const patient = patients.get(refId(s.subject));
          const hospital = hospitalsOf.get(s.id);
          return [formatDate(s.started),
            patient ? link(`patients/${encodeURIComponent(patient.id)}`, patientName(patient)) : '—',
            link(`studies/${encodeURIComponent(s.id)}`, studyTitle(s)), modalities(s).join(', ') || '—',
            hospital ? hospital.name : '—'];
        }), { empty: 'No studies yet.' }),
      h('p', {}, link('studies', 'All studies')));
  } else {
    recentSection.append(h('p', { class: 'notice error' }, recent.reason.message));
  }
}

function stat(id, value, label, path) {
  return h('div', { class: 'card stat', id },
    h('span', { class: 'value' }, String(value ?? '—')), link(path, label, { class: 'label' }));
}
