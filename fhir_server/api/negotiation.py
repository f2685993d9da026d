"""Content negotiation lives in the core (fhir_server.core.negotiation); re-exported for HTTP-side callers."""

from fhir_server.core.negotiation import FHIR_JSON, JSON_PATCH, check_request_body_type, check_response_format

__all__ = ["FHIR_JSON", "JSON_PATCH", "check_request_body_type", "check_response_format"]
