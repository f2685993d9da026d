"""Security: the SMART on FHIR authorization server, accounts, login, administration, and the enforcement of
tokens on every request (the one bearer check and the secured store)."""
