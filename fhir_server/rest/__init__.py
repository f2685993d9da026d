"""The FHIR REST API: the one route table of every interaction and operation under /fhir, its handlers, and
the HTTP adapter that serves it. The top FHIR layer: it may use features (a feature's operation is a row
here); no feature uses it."""
