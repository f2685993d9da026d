// Start: configuration, the OAuth callback, the header, the routes.

import { auth, SignInError } from './auth.js';
import { config, loadConfig } from './config.js';
import { h } from './dom.js';
import { duplicatesPage } from './pages/duplicates.js';
import { federationPage } from './pages/federation.js';
import { hospitalPage, hospitalsPage } from './pages/hospitals.js';
import { overviewPage } from './pages/overview.js';
import { patientPage } from './pages/patient.js';
import { patientsPage } from './pages/patients.js';
import { signInPage, setSignInMessage } from './pages/signin.js';
import { studiesPage } from './pages/studies.js';
import { studyPage } from './pages/study.js';
import { appPath, navigate, render, route, startRouter } from './router.js';

function guarded(page) {
  return async (ctx) => {
    if (!auth.isSignedIn()) return signInPage(ctx);
    const session = auth.session();
    if (session.role === 'patient') {
      ctx.main.append(h('h1', {}, 'For hospital staff'),
        h('p', {}, 'This dashboard is for administrators and clinicians. Patients see their images through the links their hospital shares with them.'));
      return undefined;
    }
    return page(ctx);
  };
}

function showUser(session) {
  const nav = document.getElementById('nav');
  const user = document.getElementById('user');
  nav.hidden = !session;
  user.hidden = !session;
  if (!session) return;
  document.getElementById('user-name').textContent = session.user;
  const role = session.scope.includes('admin') ? 'admin' : (session.role || 'user');
  document.getElementById('user-role').textContent = role;
  document.querySelectorAll('#nav [data-admin-only]').forEach((item) => { item.hidden = role !== 'admin'; });
}

async function boot() {
  const main = document.getElementById('main');
  try {
    await loadConfig();
  } catch (error) {
    main.replaceChildren(h('h1', {}, 'The dashboard cannot start'), h('p', { role: 'alert' }, error.message));
    return;
  }
  document.getElementById('version').textContent = `version ${config.version}`;
  auth.onChange(showUser);
  showUser(auth.session());
  document.getElementById('sign-out').addEventListener('click', async () => {
    await auth.signOut();
    setSignInMessage('You have signed out.');
    navigate('');
  });
  document.getElementById('skip-link').addEventListener('click', (event) => {
    event.preventDefault();
    main.focus();
  });

  if (appPath() === 'callback') {
    const query = new URLSearchParams(location.search);
    try {
      const returnTo = await auth.completeSignIn(query);
      // The image viewer (/viewer/) signs in through the dashboard and is sent back to where it was.
      if (returnTo.startsWith('/viewer/')) return location.replace(returnTo);
      history.replaceState({}, '', returnTo.startsWith(config.appBase) ? returnTo : config.appBase);
    } catch (error) {
      setSignInMessage(error instanceof SignInError ? error.message : `Sign-in failed: ${error.message}`);
      history.replaceState({}, '', config.appBase);
    }
  }

  route(/^$/, guarded(overviewPage));
  route(/^hospitals$/, guarded(hospitalsPage));
  route(/^hospitals\/([^/]+)$/, guarded(hospitalPage));
  route(/^patients$/, guarded(patientsPage));
  route(/^patients\/([^/]+)$/, guarded(patientPage));
  route(/^studies$/, guarded(studiesPage));
  route(/^studies\/([^/]+)$/, guarded(studyPage));
  route(/^federation$/, guarded(federationPage));
  route(/^duplicates$/, guarded(duplicatesPage));
  auth.onChange((session) => {
    if (session) return;
    // Signed out elsewhere or the session could not be renewed: back to the sign-in page.
    setSignInMessage('Your session has ended. Sign in again to continue.');
    render();
  });
  startRouter();
  await render();
}

boot();
