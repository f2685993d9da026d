// Live updates: the overview, studies and patient pages are redrawn when a new study becomes available,
// without reloading. A websocket Subscription (FHIR Subscriptions Backport IG) to the topic
// "imaging study available", one per user and browser (kept in localStorage, ending after 12 hours), bound to
// a websocket with a single-use token from $get-ws-binding-token; reconnected with back-off when it drops.

import { fhir } from './api.js';
import { auth } from './auth.js';
import { config } from './config.js';
import { announce } from './dom.js';
import { appPath, render } from './router.js';

const TOPIC = 'https://fhir.imaging-federation.example/SubscriptionTopic/imaging-study-available';
const BACKPORT = 'http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/';
const STORE_KEY = 'imaging-federation.live-subscription';
const LIFETIME_MS = 12 * 3600 * 1000;

let socket = null;
let retryMs = 1000;
let starting = false;

function livePage() {
  const path = appPath().replace(/\/+$/, '');
  if (path === '' || path === 'studies') return { page: path };
  const patient = path.match(/^patients\/([^/]+)$/);
  return patient ? { page: 'patient', patient: decodeURIComponent(patient[1]) } : null;
}

function remembered(user) {
  try {
    const saved = JSON.parse(localStorage.getItem(STORE_KEY) || 'null');
    if (saved && saved.user === user && Date.parse(saved.end) - Date.now() > 60000) return saved.id;
  } catch {
    // unreadable: make a new one
  }
  return null;
}

async function subscriptionId(user) {
  const known = remembered(user);
  if (known) {
    try {
      const existing = await fhir(`Subscription/${encodeURIComponent(known)}`);
      if (existing.status === 'active' || existing.status === 'requested') return known;
    } catch {
      // gone: make a new one
    }
  }
  const end = new Date(Date.now() + LIFETIME_MS).toISOString();
  const created = await fhir('Subscription', {
    method: 'POST',
    body: {
      resourceType: 'Subscription',
      meta: { profile: [`${BACKPORT}backport-subscription`] },
      status: 'requested',
      end,
      reason: 'Dashboard live updates',
      criteria: TOPIC,
      channel: {
        type: 'websocket',
        payload: 'application/fhir+json',
        _payload: { extension: [{ url: `${BACKPORT}backport-payload-content`, valueCode: 'id-only' }] },
        extension: [{ url: `${BACKPORT}backport-heartbeat-period`, valueUnsignedInt: 30 }],
      },
    },
  });
  localStorage.setItem(STORE_KEY, JSON.stringify({ user, id: created.id, end }));
  return created.id;
}

function eventFoci(bundle) {
  const status = bundle.entry && bundle.entry[0] && bundle.entry[0].resource;
  if (!status) return { kind: null, foci: [] };
  const kind = (status.parameter.find((p) => p.name === 'type') || {}).valueCode;
  const foci = status.parameter.filter((p) => p.name === 'notification-event')
    .map((p) => (p.part.find((x) => x.name === 'focus') || {}).valueReference)
    .filter(Boolean).map((ref) => ref.reference.split('/').slice(-2).join('/'));
  return { kind, foci };
}

async function concernsPage(where, foci) {
  if (where.page !== 'patient') return true;
  for (const focus of foci) {
    try {
      const study = await fhir(focus);
      if (study.subject && study.subject.reference === `Patient/${where.patient}`) return true;
    } catch {
      // not readable for this user: not shown on the page either
    }
  }
  return false;
}

async function onMessage(event) {
  let bundle;
  try {
    bundle = JSON.parse(event.data);
  } catch {
    return;
  }
  const { kind, foci } = eventFoci(bundle);
  if (kind === 'handshake') {
    document.documentElement.dataset.live = 'connected';
    return;
  }
  if (kind !== 'event-notification') return;
  const where = livePage();
  if (!where || !(await concernsPage(where, foci))) return;
  await render();
  announce(foci.length === 1 ? 'A new study is available.' : `${foci.length} new studies are available.`);
  document.documentElement.dataset.liveUpdates = String(Number(document.documentElement.dataset.liveUpdates || 0) + 1);
}

async function connect() {
  if (socket || starting || !auth.isSignedIn()) return;
  const session = auth.session();
  if (!session || session.role === 'patient') return;
  starting = true;
  try {
    const id = await subscriptionId(session.user);
    const binding = await fhir(`Subscription/${encodeURIComponent(id)}/$get-ws-binding-token`);
    const value = (name) => (binding.parameter.find((p) => p.name === name) || {});
    const ws = new WebSocket(value('websocket-url').valueUrl);
    socket = ws;
    ws.addEventListener('open', () => ws.send(`bind-with-token ${value('token').valueString}`));
    ws.addEventListener('message', (event) => { retryMs = 1000; onMessage(event); });
    ws.addEventListener('close', () => {
      socket = null;
      document.documentElement.dataset.live = 'disconnected';
      if (auth.isSignedIn()) setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 60000);
    });
  } catch {
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 60000);
  } finally {
    starting = false;
  }
}

// Loaded beside main.js, which loads the configuration first: start once it is there.
function whenConfigured() {
  if (!config.fhirBase) {
    setTimeout(whenConfigured, 200);
    return;
  }
  auth.onChange((session) => {
    if (session) connect();
    else if (socket) socket.close();
  });
  connect();
}
whenConfigured();
