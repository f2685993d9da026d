"""Exceptions raised by the terminology package."""


class TerminologyError(Exception):
    """A terminology request that cannot be answered.

    `code` is a FHIR IssueType code ("not-found", "invalid", "not-supported") so that the REST layer
    can turn it into an OperationOutcome and an HTTP status without parsing the message.
    """

    def __init__(self, code: str, diagnostics: str) -> None:
        super().__init__(diagnostics)
        self.code = code
        self.diagnostics = diagnostics

    def __repr__(self) -> str:
        return f"TerminologyError(code={self.code!r}, diagnostics={self.diagnostics!r})"


class ShippedDataError(Exception):
    """The terminology content itself is broken (a packaging bug, never the client's fault).

    Kept apart from TerminologyError so that it surfaces as a server error, not as a 4xx.
    """
