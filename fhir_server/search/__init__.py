"""FHIR search: index values computed on write, and queries over them (https://hl7.org/fhir/R4/search.html)."""
