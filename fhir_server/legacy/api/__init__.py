"""The old app's REST API (`/api/…`), answered from the FHIR data through the caller's secured store."""

from fhir_server.legacy.api.routes import router

__all__ = ["router"]
