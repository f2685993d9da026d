// History-API routing under the app base (/app/...): links to app pages are followed without reloading.

import { releaseImages } from './api.js';
import { config } from './config.js';
import { announce, clear, h } from './dom.js';

const routes = [];
let generation = 0;

export function route(pattern, page) {
  routes.push([pattern, page]);
}

export function appPath() {
  const path = location.pathname;
  return path.startsWith(config.appBase) ? decodeURIComponent(path.slice(config.appBase.length)) : '';
}

export function navigate(path, { replace = false } = {}) {
  const url = config.appBase + String(path).replace(/^\//, '');
  if (replace) history.replaceState({}, '', url);
  else history.pushState({}, '', url);
  return render();
}

export function link(path, text, attrs = {}) {
  return h('a', { href: config.appBase + String(path).replace(/^\//, ''), ...attrs }, text);
}

// The page context: `current()` is false once the user has gone elsewhere (late answers are dropped).
export async function render() {
  generation += 1;
  const mine = generation;
  const main = document.getElementById('main');
  releaseImages();
  const path = appPath().replace(/\/+$/, '');
  const query = new URLSearchParams(location.search);
  updateNav(path);
  for (const [pattern, page] of routes) {
    const match = path.match(pattern);
    if (!match) continue;
    const ctx = {
      main, params: match.slice(1), query, current: () => mine === generation,
    };
    clear(main);
    try {
      await page(ctx);
    } catch (error) {
      if (!ctx.current()) return;
      clear(main);
      main.append(h('h1', { tabindex: '-1' }, 'Something went wrong'),
        h('div', { class: 'notice error', role: 'alert' }, error.message || String(error)));
    }
    if (ctx.current()) focusHeading(main);
    return;
  }
  clear(main);
  main.append(h('h1', { tabindex: '-1' }, 'Page not found'), h('p', {}, 'There is no page at this address. ', link('', 'Go to the overview')));
  focusHeading(main);
}

let firstRender = true;
function focusHeading(main) {
  const heading = main.querySelector('h1');
  if (heading) {
    document.title = `${heading.textContent} · Imaging Federation`;
    if (!firstRender) {
      heading.setAttribute('tabindex', '-1');
      heading.focus();
    }
    announce(heading.textContent);
  }
  firstRender = false;
}

function updateNav(path) {
  const section = path.split('/')[0];
  document.querySelectorAll('#nav a').forEach((a) => {
    if (a.dataset.section === section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  });
}

export function startRouter() {
  document.addEventListener('click', (event) => {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    const anchor = event.target.closest('a[href]');
    if (!anchor || anchor.target || anchor.hasAttribute('download')) return;
    const url = new URL(anchor.href, location.href);
    if (url.origin !== location.origin || !url.pathname.startsWith(config.appBase)) return;
    if (url.pathname === location.pathname && url.search === location.search && url.hash) return;
    event.preventDefault();
    history.pushState({}, '', url.pathname + url.search);
    render();
  });
  window.addEventListener('popstate', () => render());
}
