// How fresh a hospital's data is: its last completed Orthanc sync, and whether (since when) its PACS fails.
// From /app/api/hospitals (hospital.sync: lastSync, lastAttempt, consecutiveFailures, failingSince, lastSyncError)
// and the background sync interval of the server (0: no background sync).

import { h, statusBadge } from './dom.js';
import { formatDate } from './format.js';

export function age(iso, now = Date.now()) {
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return iso;
  const seconds = Math.max(0, Math.round((now - then) / 1000));
  if (seconds < 60) return 'just now';
  const units = [[86400, 'day'], [3600, 'hour'], [60, 'minute']];
  for (const [size, unit] of units) {
    if (seconds >= size) {
      const n = Math.floor(seconds / size);
      return `${n} ${unit}${n === 1 ? '' : 's'} ago`;
    }
  }
  return 'just now';
}

// 'failing' | 'stale' | 'fresh' | 'never' | 'unknown', and a sentence for people.
export function freshness(sync, interval) {
  if (!sync) return { level: 'unknown', text: 'Not connected to a PACS' };
  if (sync.failingSince) {
    const last = sync.lastSync ? `data as of ${formatDate(sync.lastSync)} (${age(sync.lastSync)})` : 'never synced';
    return { level: 'failing', text: `PACS unreachable since ${formatDate(sync.failingSince)}; ${last}` };
  }
  if (!sync.lastSync) return { level: 'never', text: 'Never synced' };
  const text = `Synced ${age(sync.lastSync)} (${formatDate(sync.lastSync)})`;
  // Three missed passes (or, without a background sync, a day) make the data stale.
  const limit = interval > 0 ? Math.max(3 * interval, 300) : 86400;
  const stale = (Date.now() - Date.parse(sync.lastSync)) / 1000 > limit;
  return { level: stale ? 'stale' : 'fresh', text: stale ? `${text}: may be out of date` : text };
}

const BADGES = {
  failing: ['down', 'unreachable'], stale: ['warn', 'stale'], fresh: ['up', 'fresh'], never: ['warn', 'never synced'], unknown: ['none', 'not connected'],
};

export function freshnessCell(hospital, interval) {
  const { level, text } = freshness(hospital.sync, interval);
  const [status, label] = BADGES[level];
  return h('span', { class: 'freshness', dataset: { freshness: level } },
    statusBadge(status, label), ' ', h('span', { class: 'muted' }, text));
}

// A warning naming every hospital whose PACS has been failing: the studies shown from them may be incomplete.
export function unreachableWarning(hospitals, id = 'unreachable-warning') {
  const failing = hospitals.filter((x) => x.sync && x.sync.failingSince);
  if (!failing.length) return null;
  return h('div', { class: 'notice warning', role: 'status', id },
    h('strong', {}, failing.length === 1 ? 'A hospital\'s PACS is unreachable. ' : 'Some hospitals\' PACS are unreachable. '),
    'Studies recently added there are missing here until it can be synced again:',
    h('ul', {}, failing.map((x) => h('li', {}, `${x.name}: ${freshness(x.sync, 0).text}`,
      x.sync.lastSyncError ? h('span', { class: 'muted' }, ` (${x.sync.lastSyncError})`) : null))));
}

export function intervalText(interval) {
  if (!(interval > 0)) return 'This server does not sync hospitals by itself: data changes when an administrator syncs.';
  const every = interval >= 120 ? `${Math.round(interval / 60)} minutes` : `${Math.round(interval)} seconds`;
  return `Each hospital's PACS is synced about every ${every}; a failing PACS is retried less often.`;
}
