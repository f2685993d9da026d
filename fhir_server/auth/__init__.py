"""SMART on FHIR authorization server and the enforcement of its tokens."""
