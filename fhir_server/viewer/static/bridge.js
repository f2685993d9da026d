// Runs before the viewer (it is the start of /viewer/app-config.js): adds the signed-in user's SMART access
// token to every request the viewer makes to this server's DICOMweb, and to no other. The token is the
// dashboard's (sessionStorage, this tab), or the one a SMART Health Link gave this tab; the dashboard's is
// renewed with its refresh token before it expires. Without a token the tab goes to the sign-in.
(function () {
  'use strict';
  var DICOMWEB = '/dicomweb/';
  var LINK_KEY = 'fhir-viewer.link-token';
  var DASHBOARD_KEY = 'fhir-dashboard.session';

  function read(key) {
    try { return JSON.parse(sessionStorage.getItem(key) || 'null'); } catch (e) { return null; }
  }

  function token() {
    var link = read(LINK_KEY);
    if (link && link.accessToken && link.expiresAt * 1000 > Date.now()) return link.accessToken;
    var session = read(DASHBOARD_KEY);
    return session && session.accessToken ? session.accessToken : null;
  }

  function ours(url) {
    try {
      var target = new URL(String(url), location.href);
      return target.origin === location.origin && target.pathname.indexOf(DICOMWEB) === 0;
    } catch (e) {
      return false;
    }
  }

  var open = XMLHttpRequest.prototype.open;
  XMLHttpRequest.prototype.open = function (method, url) {
    this.__fhirDicomweb = ours(url);
    return open.apply(this, arguments);
  };
  var send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function () {
    var bearer = this.__fhirDicomweb && token();
    if (bearer) this.setRequestHeader('Authorization', 'Bearer ' + bearer);
    return send.apply(this, arguments);
  };
  var originalFetch = window.fetch;
  window.fetch = function (input, init) {
    var url = typeof input === 'string' || input instanceof URL ? input : input.url;
    var bearer = ours(url) && token();
    if (bearer) {
      var headers = new Headers((init && init.headers) || (input instanceof Request ? input.headers : undefined));
      headers.set('Authorization', 'Bearer ' + bearer);
      init = Object.assign({}, init || {}, { headers: headers });
    }
    return originalFetch.call(this, input, init);
  };

  if (!token()) {
    location.replace('/viewer/signin?returnTo=' + encodeURIComponent(location.pathname + location.search));
    return;
  }
  // The dashboard session: renewed ahead of expiry by the dashboard's own code (same origin, same tab).
  if (read(DASHBOARD_KEY)) {
    setInterval(function () {
      Promise.all([import('/app/static/js/config.js'), import('/app/static/js/auth.js')])
        .then(function (modules) {
          var config = modules[0];
          return (config.config.smart ? Promise.resolve() : config.loadConfig()).then(function () {
            return modules[1].auth.accessToken();
          });
        })
        .catch(function () {});
    }, 30000);
  }
})();
