"""FHIR R4 interoperability server for federated hospital imaging."""

__version__ = "0.1.0"
