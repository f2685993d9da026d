"""One module per FHIR interaction (https://hl7.org/fhir/R4/http.html), each framework-light:
parsed inputs and a repository in, a Starlette response out."""
