"""The `fhir-server` command line: the top layer, building the runtime the way the app does."""
