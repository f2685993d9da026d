"""The web dashboard: a no-build single-page app (static HTML, ES modules, one stylesheet) served under
`/app/`, signing in through this server's own SMART authorization server as the first-party public client
`fhir-dashboard`, plus the old application's addresses (`/dashboard`, `/patient-access/{id}`,
`/federation-access`) redirected to its pages."""
