"""The bundled image viewer: the OHIF Viewer (npm `@ohif/app`, pinned and integrity-checked, installed by
`fhir-server install-viewer`) served under `/viewer/` with a configuration the server generates (our
federated DICOMweb root as its only data source, the user's SMART token on every request, a strict CSP), and
IHE Invoke Image Display (`/viewer/IHEInvokeImageDisplay`)."""

from fhir_server.viewer.endpoint import IID_ENDPOINT_ID, advertise_iid
from fhir_server.viewer.install import VERSION, ViewerInstallError, install_viewer, installed_version
from fhir_server.viewer.location import viewer_dir
from fhir_server.viewer.routes import router

__all__ = [
    "IID_ENDPOINT_ID",
    "VERSION",
    "ViewerInstallError",
    "advertise_iid",
    "install_viewer",
    "installed_version",
    "router",
    "viewer_dir",
]
