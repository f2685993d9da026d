"""The test suite as a package: helpers are imported by their dotted path (`from tests.server_process import
start_server`), so no test edits sys.path, and same-named modules in different directories stay distinct
(`tests.fhir_server.dicomweb.test_ops_surface`, `tests.fhir_server.observability.test_ops_surface`)."""
