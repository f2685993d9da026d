"""The dashboard as a SMART app of this server: a first-party public client (authorization code + PKCE S256),
registered (idempotently) at every start.

Its redirect URI is the path `/app/callback`: the authorization server accepts it only on its own root —
FHIR_PUBLIC_BASE_URL's when set, else the one the authorization request was sent to
(`fhir_server.security.accounts.clients.Client.check_redirect_uri`), so the dashboard works on any host and
port the server is reached at without ever redirecting an authorization code to another site.

Scopes: `user/*.cruds` (clinicians and admins see everything), `admin` (hospital registration; granted
only to admin users), `openid fhirUser` (who signed in) and `online_access` (a refresh token for one working
day, not the 30 days of `offline_access`: the dashboard keeps it in sessionStorage). Being first-party, it
gets no consent page: the user is granted what their role allows (fhir_server.security.login.routes).
"""

from __future__ import annotations

from fhir_server.security.accounts.clients import Client, ClientRegistry
from fhir_server.storage.errors import DuplicateKey

CLIENT_ID = "fhir-dashboard"
CLIENT_NAME = "Imaging Federation dashboard"
CALLBACK_PATH = "/app/callback"
SCOPE = "openid fhirUser user/*.cruds admin online_access"


def dashboard_client() -> Client:
    return Client(
        client_id=CLIENT_ID,
        name=CLIENT_NAME,
        kind="public",
        scope=SCOPE,
        redirect_uris=[CALLBACK_PATH],
        first_party=True,
    )


def register_client(clients: ClientRegistry) -> None:
    """Create or reset the dashboard's registration (every worker does this at start; it is idempotent)."""
    try:
        clients.put(dashboard_client())
    except DuplicateKey:  # two workers inserted at the same moment: the other one won; update it
        clients.put(dashboard_client())
