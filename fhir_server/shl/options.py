"""The input of `$shl`: a FHIR Parameters resource with optional label, passcode, expires, longTerm,
singleFile and imageAccess. Bad input is a 400 OperationOutcome naming the parameter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fhir_server.errors import FhirError, Problem
from fhir_server.validation import parameter_entries, parse_json

_TYPES = {
    "label": "valueString",
    "passcode": "valueString",
    "expires": "valueDateTime",
    "longTerm": "valueBoolean",
    "singleFile": "valueBoolean",
    "imageAccess": "valueBoolean",
}
MAX_LABEL = 80  # SHL IG STU1 §label


@dataclass(frozen=True)
class LinkOptions:
    label: str | None = None
    passcode: str | None = None
    expires: datetime | None = None
    long_term: bool = False
    single_file: bool = False
    image_access: bool = False

    @property
    def flags(self) -> set[str]:
        chosen = {"L": self.long_term, "P": self.passcode is not None, "U": self.single_file}
        return {f for f, on in chosen.items() if on}


def _invalid(name: str, message: str, path: str | None = None) -> FhirError:
    return FhirError(
        Problem.INVALID, f"{name}: {message}", [path or f"Parameters.parameter.where(name='{name}')"]
    )


def parse_options(body: bytes) -> LinkOptions:
    if not body.strip():
        return LinkOptions()
    # The shared parser bounds nesting and checks the Parameters shape with paths (a `parameter` that is not
    # an array, an entry that is not an object): bad input is a 400 naming the element, never a 500.
    entries = parameter_entries(parse_json(body), "$shl")
    values: dict[str, Any] = {}
    paths: dict[str, str] = {}
    for path, parameter in entries:
        name = parameter["name"]
        if name not in _TYPES:
            raise _invalid(name, f"unknown parameter; $shl takes {', '.join(_TYPES)}", f"{path}.name")
        if name in values:
            raise _invalid(name, "given more than once", path)
        value_type = _TYPES[name]
        if value_type not in parameter:
            raise _invalid(name, f"needs {value_type}", path)
        values[name] = parameter[value_type]
        paths[name] = f"{path}.{value_type}"
    return _checked(values, paths)


def _checked(values: dict[str, Any], paths: dict[str, str]) -> LinkOptions:
    """`paths`: each given parameter's value element, so that an error names it by its index, as every other
    Parameters error does."""
    for name in ("longTerm", "singleFile", "imageAccess"):
        if name in values and not isinstance(values[name], bool):
            raise _invalid(name, "must be a boolean", paths.get(name))
    for name in ("label", "passcode", "expires"):
        if name in values and (not isinstance(values[name], str) or not values[name].strip()):
            raise _invalid(name, "must be a non-empty string", paths.get(name))
    label = values.get("label")
    if label is not None and len(label) > MAX_LABEL:
        raise _invalid("label", f"at most {MAX_LABEL} characters", paths.get("label"))
    expires = _expires(values["expires"], paths.get("expires")) if "expires" in values else None
    options = LinkOptions(
        label=label,
        passcode=values.get("passcode"),
        expires=expires,
        long_term=values.get("longTerm", False),
        single_file=values.get("singleFile", False),
        image_access=values.get("imageAccess", False),
    )
    if options.single_file and options.passcode is not None:
        raise _invalid(
            "singleFile", "a single-file (U) link cannot have a passcode (P)", paths.get("singleFile")
        )
    if options.single_file and options.image_access:
        raise _invalid(
            "singleFile", "a single-file (U) link holds one file: no imageAccess", paths.get("singleFile")
        )
    return options


def _expires(raw: str, path: str | None) -> datetime:
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise _invalid("expires", f"{raw!r} is not a dateTime with time zone", path) from None
    if value.tzinfo is None:
        raise _invalid("expires", "needs a time zone, e.g. 2030-01-01T00:00:00Z", path)
    if value <= datetime.now(UTC):
        raise _invalid("expires", "is in the past", path)
    return value.astimezone(UTC)
