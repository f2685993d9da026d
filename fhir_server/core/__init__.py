"""The framework-free FHIR core: requests, results, the one route table and its handlers.

Nothing in this package imports FastAPI or Starlette (tests/fhir_server/test_request_code_boundary.py checks):
`fhir_server.rest.http_adapter` is the only module that turns HTTP into a `FhirRequest` and back.
"""
