// The page shown when nobody is signed in: one button that starts the SMART sign-in.

import { auth, secureContext } from '../auth.js';
import { append, h } from '../dom.js';

let message = '';

export function setSignInMessage(text) {
  message = text || '';
}

export function signInPage(ctx) {
  const returnTo = location.pathname + location.search;
  const button = h('button', { type: 'button', id: 'sign-in', disabled: !secureContext }, 'Sign in');
  button.addEventListener('click', () => {
    button.disabled = true;
    auth.signIn(returnTo);
  });
  // dom.append skips null (Element.append would write "null").
  append(ctx.main, [
    h('h1', {}, 'Sign in to the Imaging Federation'),
    message ? h('div', { class: 'notice', role: 'status' }, message) : null,
    secureContext ? null : h('div', { class: 'notice', role: 'alert' },
      'Signing in needs a secure connection: open the dashboard over HTTPS (or on this machine as localhost).'),
    h('div', { class: 'card' },
      h('p', {}, 'Hospital staff sign in with their account on this server. Administrators register hospitals; ' +
        'clinicians find patients and studies across all hospitals and share them.'),
      h('div', { class: 'actions' }, button)),
  ]);
  message = '';
}
