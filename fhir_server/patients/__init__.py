"""Patient identity across hospitals: possible duplicates the sync found (`candidates`), how two Patients are
compared (`demographics`), and `Patient/$merge` (`merge`), with their routes."""

# The face other features use (the sync records possible duplicates); everything else is this package's own.
from fhir_server.patients.candidates import MatchCandidates
from fhir_server.patients.demographics import REASON, demographic_keys, identifier_values

__all__ = [
    "REASON",
    "MatchCandidates",
    "demographic_keys",
    "identifier_values",
]
