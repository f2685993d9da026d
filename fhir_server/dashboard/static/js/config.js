// Server configuration (/app/api/config) and SMART discovery, loaded once at start.

export const config = {};

export async function loadConfig() {
  const own = await fetch(new URL('../../api/config', import.meta.url), { cache: 'no-store' });
  if (!own.ok) throw new Error(`The dashboard configuration could not be loaded (${own.status})`);
  Object.assign(config, await own.json());
  const discovery = await fetch(`${config.fhirBase}/.well-known/smart-configuration`, { cache: 'no-store' });
  if (!discovery.ok) throw new Error(`SMART discovery failed (${discovery.status})`);
  config.smart = await discovery.json();
  return config;
}

export function appUrl(path = '') {
  return config.appBase + String(path).replace(/^\//, '');
}
