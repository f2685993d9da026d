// Reading FHIR resources for display.

export const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
export const DICOM_UID = 'urn:dicom:uid';

export function refId(reference) {
  if (!reference) return null;
  const text = typeof reference === 'string' ? reference : reference.reference;
  if (!text) return null;
  const parts = text.split('/');
  return parts[parts.length - 1];
}

export function patientName(patient) {
  const name = (patient && patient.name && patient.name[0]) || null;
  if (!name) return '(no name)';
  if (name.text) return name.text;
  const text = [...(name.given || []), name.family || ''].join(' ').trim();
  return text || '(no name)';
}

export function identifierValue(resource, system) {
  const found = (resource.identifier || []).find((i) => i.system === system);
  return found ? found.value : null;
}

export function legacyId(resource) {
  const found = (resource.identifier || []).find((i) => i.use === 'old');
  return found ? found.value : null;
}

export function phone(patient) {
  const found = (patient.telecom || []).find((t) => t.system === 'phone');
  return found ? found.value : null;
}

export function formatDate(value) {
  if (!value) return '—';
  if (/^\d{4}(-\d{2}(-\d{2})?)?$/.test(value)) return value;
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return value;
  const pad = (n) => String(n).padStart(2, '0');
  // Shown in the browser's time zone, and saying which: a time without its zone is ambiguous across sites.
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())} ${zoneName(date)}`.trim();
}

export function zoneName(date = new Date()) {
  try {
    const part = new Intl.DateTimeFormat(undefined, { timeZoneName: 'short' }).formatToParts(date)
      .find((p) => p.type === 'timeZoneName');
    return part ? part.value : '';
  } catch {
    return '';
  }
}

export function modalities(study) {
  const codes = (study.modality || []).map((m) => m.code).filter(Boolean);
  if (!codes.length) {
    for (const series of study.series || []) if (series.modality && series.modality.code) codes.push(series.modality.code);
  }
  return [...new Set(codes)];
}

export function studyUid(study) {
  const found = (study.identifier || []).find((i) => i.system === DICOM_UID && i.value);
  return found ? found.value.replace(/^urn:oid:/, '') : null;
}

export function studyTitle(study) {
  if (study.description) return study.description;
  const procedure = (study.procedureCode || [])[0];
  if (procedure && procedure.text) return procedure.text;
  const note = (study.note || [])[0];
  const mods = modalities(study).join(', ');
  return mods ? `${mods} study` : (note && note.text) || 'Imaging study';
}

export function bundleResources(bundle, type, mode) {
  return (bundle.entry || [])
    .filter((e) => e.resource && e.resource.resourceType === type && (!mode || (e.search || {}).mode === mode))
    .map((e) => e.resource);
}

export function nextLink(bundle) {
  const link = (bundle.link || []).find((l) => l.relation === 'next');
  return link ? link.url : null;
}

// The hospital of each study through ImagingStudy.endpoint -> Endpoint.managingOrganization (the federation
// query's _include), by study id.
export function hospitalsOfStudies(bundle) {
  const endpoints = new Map(bundleResources(bundle, 'Endpoint').map((e) => [e.id, e]));
  const organizations = new Map(bundleResources(bundle, 'Organization').map((o) => [o.id, o]));
  const result = new Map();
  for (const study of bundleResources(bundle, 'ImagingStudy', 'match')) {
    let hospital = null;
    for (const ref of study.endpoint || []) {
      const endpoint = endpoints.get(refId(ref));
      const orgId = endpoint && refId(endpoint.managingOrganization);
      if (orgId) {
        hospital = organizations.get(orgId) || { id: orgId, name: (endpoint.managingOrganization.display || orgId) };
        break;
      }
    }
    result.set(study.id, hospital);
  }
  return result;
}

export function proxyEndpointId(study) {
  const ref = (study.endpoint || [])[0];
  return ref ? refId(ref) : null;
}

// OperationOutcome issue text without a leading "Patient.birthDate: " repeated from its expression.
export function issueText(issue) {
  let text = issue.diagnostics || (issue.details && issue.details.text) || issue.code || 'Error';
  for (const expression of issue.expression || []) {
    if (text.startsWith(`${expression}: `)) text = text.slice(expression.length + 2);
  }
  return text.charAt(0).toUpperCase() + text.slice(1);
}
