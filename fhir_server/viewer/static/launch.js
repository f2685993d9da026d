// IHE Invoke Image Display and sign-in for the viewer: `/viewer/IHEInvokeImageDisplay?requestType=…` asks
// the server which studies the request names (with the user's token, so only studies they may see), then
// opens the viewer on them; `/viewer/signin?returnTo=…` signs in through the dashboard's SMART sign-in and
// comes back. Tokens never appear in a URL.
import { config, loadConfig } from '/app/static/js/config.js';
import { auth } from '/app/static/js/auth.js';

const status = (text) => { document.getElementById('status').textContent = text; };

async function launch() {
  await loadConfig();
  if (location.pathname === '/viewer/signin') {
    const returnTo = new URLSearchParams(location.search).get('returnTo') || '/viewer/';
    await auth.signIn(returnTo.startsWith('/viewer/') ? returnTo : '/viewer/');
    return;
  }
  const token = await auth.accessToken();
  if (!token) {
    status('Signing in…');
    await auth.signIn(location.pathname + location.search);
    return;
  }
  const response = await fetch(`/viewer/api/launch${location.search}`, {
    headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' },
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const reason = body.issue?.[0]?.diagnostics || `HTTP ${response.status}`;
    status(`The viewer cannot open: ${reason}`);
    return;
  }
  location.replace(body.viewerUrl);
}

launch().catch((error) => status(`The viewer cannot open: ${error.message}`));
void config;
