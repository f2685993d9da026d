// Calls to the server with the access token. Errors become ApiError with the OperationOutcome issues.

import { auth } from './auth.js';
import { config } from './config.js';
import { issueText } from './format.js';

export class ApiError extends Error {
  constructor(status, issues, message) {
    super(message);
    this.status = status;
    this.issues = issues;
  }
}

async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  let issues = [];
  if (body && body.resourceType === 'OperationOutcome') issues = body.issue || [];
  else if (body && (body.error || body.detail)) issues = [{ severity: 'error', code: 'processing', diagnostics: String(body.error_description || body.error || body.detail) }];
  const message = issues.length ? issues.map(issueText).join(' ') : `The server answered ${response.status} ${response.statusText}`;
  return new ApiError(response.status, issues, message);
}

function withParams(url, params) {
  if (!params) return url;
  const search = new URLSearchParams();
  const pairs = Array.isArray(params) ? params : Object.entries(params);
  for (const [key, value] of pairs) {
    if (value !== undefined && value !== null && value !== '') search.append(key, value);
  }
  const text = search.toString();
  return text ? `${url}${url.includes('?') ? '&' : '?'}${text}` : url;
}

// options: method, params, body (JSON), headers, raw (return the Response).
export async function request(url, options = {}) {
  const { method = 'GET', params, body, headers = {}, raw = false } = options;
  const target = withParams(url, params);
  const send = async () => {
    const token = await auth.accessToken();
    const all = { Accept: 'application/fhir+json, application/json', ...headers };
    if (token) all.Authorization = `Bearer ${token}`;
    const init = { method, headers: all, cache: 'no-store' };
    if (body !== undefined) {
      all['Content-Type'] = all['Content-Type'] || 'application/fhir+json';
      init.body = JSON.stringify(body);
    }
    return fetch(target, init);
  };
  let response = await send();
  if (response.status === 401 && auth.isSignedIn()) {
    if (await auth.refresh()) response = await send();
    if (response.status === 401) auth.expire();
  }
  if (!response.ok) throw await errorOf(response);
  if (raw) return response;
  if (response.status === 204) return null;
  return response.json();
}

export function fhir(path, options) {
  return request(`${config.fhirBase}/${path}`, options);
}

// Bundle pages come with absolute `next` links; only follow those on this server.
export function follow(url) {
  const target = new URL(url, location.href);
  if (target.origin !== location.origin) throw new ApiError(0, [], 'A paging link points to another server.');
  return request(target.href);
}

export function serverUrl(path) {
  return `${config.fhirBase.replace(/\/fhir$/, '')}/${path.replace(/^\//, '')}`;
}

// An image (QR code, rendered DICOM frame) fetched with the token, as a blob: URL for an <img>.
const objectUrls = new Set();
export async function imageUrl(url, accept = 'image/png') {
  const response = await request(url, { headers: { Accept: accept }, raw: true });
  const blob = await response.blob();
  if (!blob.type.startsWith('image/')) throw new ApiError(response.status, [], `Not an image (${blob.type || 'no type'})`);
  const objectUrl = URL.createObjectURL(blob);
  objectUrls.add(objectUrl);
  return objectUrl;
}

export function releaseImages() {
  for (const url of objectUrls) URL.revokeObjectURL(url);
  objectUrls.clear();
}
