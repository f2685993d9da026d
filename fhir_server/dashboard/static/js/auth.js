// Sign-in through this server's SMART authorization server: authorization code + PKCE S256, public client.
// Tokens live in sessionStorage (gone with the tab); the refresh token (online_access) renews the access
// token; signing out revokes the refresh token (and with it the access tokens issued from it).

import { config } from './config.js';

const SESSION_KEY = 'fhir-dashboard.session';
const PENDING_KEY = 'fhir-dashboard.pending';
const EARLY_REFRESH_SECONDS = 60;

function base64url(bytes) {
  let text = '';
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomString(bytes = 32) {
  return base64url(crypto.getRandomValues(new Uint8Array(bytes)));
}

// WebCrypto exists only in secure contexts (HTTPS, or http on localhost): a dashboard reached over plain
// http from another machine would also send its tokens in clear, so it is refused rather than worked around.
export const secureContext = Boolean(globalThis.isSecureContext && globalThis.crypto && crypto.subtle);

async function challengeOf(verifier) {
  const data = new TextEncoder().encode(verifier);
  return base64url(new Uint8Array(await crypto.subtle.digest('SHA-256', data)));
}

function decodeJwt(token) {
  try {
    const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = decodeURIComponent(Array.from(atob(payload), (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join(''));
    return JSON.parse(json);
  } catch {
    return {};
  }
}

function load() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null');
  } catch {
    return null;
  }
}

function save(session) {
  if (session) sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  else sessionStorage.removeItem(SESSION_KEY);
}

function fromTokenResponse(body, previous) {
  const claims = decodeJwt(body.access_token);
  const scope = (body.scope || (previous && previous.scope) || '').split(/\s+/).filter(Boolean);
  return {
    accessToken: body.access_token,
    refreshToken: body.refresh_token || (previous && previous.refreshToken) || null,
    expiresAt: Date.now() / 1000 + Number(body.expires_in || 300),
    scope,
    user: claims.sub || 'unknown',
    role: claims.role || null,
    fhirUser: claims.fhirUser || null,
  };
}

export class SignInError extends Error {}

let refreshing = null;
const listeners = new Set();

export const auth = {
  session: load,

  isSignedIn() {
    return Boolean(load());
  },

  isAdmin() {
    const session = load();
    return Boolean(session && session.scope.includes('admin'));
  },

  onChange(listener) {
    listeners.add(listener);
  },

  changed() {
    for (const listener of listeners) listener(load());
  },

  async signIn(returnTo) {
    const state = randomString(16);
    const verifier = randomString(32);
    sessionStorage.setItem(PENDING_KEY, JSON.stringify({ state, verifier, returnTo: returnTo || config.appBase }));
    const params = new URLSearchParams({
      response_type: 'code',
      client_id: config.clientId,
      redirect_uri: config.redirectUri,
      scope: config.scope,
      state,
      aud: config.fhirBase,
      code_challenge: await challengeOf(verifier),
      code_challenge_method: 'S256',
    });
    location.assign(`${config.smart.authorization_endpoint}?${params}`);
  },

  // The redirect back from /auth/authorize: check state, exchange the code. Returns where to go next.
  async completeSignIn(query) {
    const pending = JSON.parse(sessionStorage.getItem(PENDING_KEY) || 'null');
    sessionStorage.removeItem(PENDING_KEY);
    if (query.get('error')) {
      const reason = query.get('error') === 'access_denied' ? 'Access was not allowed.' : (query.get('error_description') || query.get('error'));
      throw new SignInError(`Sign-in did not complete: ${reason}`);
    }
    if (!pending || !query.get('state') || pending.state !== query.get('state')) {
      throw new SignInError('This sign-in response does not belong to a sign-in started in this tab. Start again.');
    }
    const response = await fetch(config.smart.token_endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: query.get('code') || '',
        redirect_uri: config.redirectUri,
        client_id: config.clientId,
        code_verifier: pending.verifier,
      }),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok || !body.access_token) {
      throw new SignInError(`Sign-in failed: ${body.error_description || body.error || response.status}`);
    }
    save(fromTokenResponse(body, null));
    this.changed();
    return pending.returnTo;
  },

  // A valid access token, refreshed first when it is about to expire; null when signed out.
  async accessToken() {
    const session = load();
    if (!session) return null;
    if (session.expiresAt - EARLY_REFRESH_SECONDS > Date.now() / 1000) return session.accessToken;
    return (await this.refresh()) ? load().accessToken : null;
  },

  async refresh() {
    if (refreshing) return refreshing;
    refreshing = (async () => {
      const session = load();
      if (!session || !session.refreshToken) return false;
      try {
        const response = await fetch(config.smart.token_endpoint, {
          method: 'POST',
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            grant_type: 'refresh_token', refresh_token: session.refreshToken, client_id: config.clientId,
          }),
        });
        if (!response.ok) return false;
        save(fromTokenResponse(await response.json(), session));
        return true;
      } catch {
        return false;
      }
    })();
    try {
      return await refreshing;
    } finally {
      refreshing = null;
    }
  },

  // The session is over (expired and not renewable): forget it.
  expire() {
    save(null);
    this.changed();
  },

  async signOut() {
    const session = load();
    save(null);
    if (session) {
      const revoke = (token, hint) => fetch(config.smart.revocation_endpoint, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token, token_type_hint: hint, client_id: config.clientId }),
      }).catch(() => null);
      const pending = [revoke(session.accessToken, 'access_token')];
      if (session.refreshToken) pending.push(revoke(session.refreshToken, 'refresh_token'));
      await Promise.all(pending);
    }
    this.changed();
  },
};
