"""Serialising service results as the R4 `Parameters` outputs of each operation."""

from typing import Any

from terminology.results import ConceptProperty, Designation, LookupResult, TranslateResult, ValidationResult


def lookup_to_parameters(result: LookupResult) -> dict[str, Any]:
    """R4 CodeSystem/$lookup out: name, version, display, designation*, property*."""
    parameters: list[dict[str, Any]] = [{"name": "name", "valueString": result.name}]
    if result.version:
        parameters.append({"name": "version", "valueString": result.version})
    parameters.append({"name": "display", "valueString": result.display})
    parameters.extend(_designation(designation) for designation in result.designations)
    # R4 has no `definition` out-parameter; it is one of the implicit lookup properties.
    if result.definition:
        parameters.append(_property(ConceptProperty("definition", result.definition, "String")))
    parameters.extend(_property(prop) for prop in result.properties)
    return {"resourceType": "Parameters", "parameter": parameters}


def validation_to_parameters(result: ValidationResult) -> dict[str, Any]:
    """R4 ValueSet|CodeSystem/$validate-code out: result, message, display."""
    parameters: list[dict[str, Any]] = [{"name": "result", "valueBoolean": result.result}]
    if result.message:
        parameters.append({"name": "message", "valueString": result.message})
    if result.display:
        parameters.append({"name": "display", "valueString": result.display})
    return {"resourceType": "Parameters", "parameter": parameters}


def translate_to_parameters(result: TranslateResult) -> dict[str, Any]:
    """R4 ConceptMap/$translate out: result, message, match*(equivalence, concept, source)."""
    parameters: list[dict[str, Any]] = [{"name": "result", "valueBoolean": result.result}]
    if result.message:
        parameters.append({"name": "message", "valueString": result.message})
    for match in result.matches:
        parts: list[dict[str, Any]] = [
            {"name": "equivalence", "valueCode": match.equivalence},
            {"name": "concept", "valueCoding": match.concept},
        ]
        if match.source:
            parts.append({"name": "source", "valueUri": match.source})
        parameters.append({"name": "match", "part": parts})
    return {"resourceType": "Parameters", "parameter": parameters}


def _designation(designation: Designation) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if designation.language:
        parts.append({"name": "language", "valueCode": designation.language})
    if designation.use:
        parts.append({"name": "use", "valueCoding": designation.use})
    parts.append({"name": "value", "valueString": designation.value})
    return {"name": "designation", "part": parts}


def _property(prop: ConceptProperty) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [
        {"name": "code", "valueCode": prop.code},
        {"name": "value", f"value{prop.value_type}": prop.value},
    ]
    if prop.description:
        parts.append({"name": "description", "valueString": prop.description})
    return {"name": "property", "part": parts}
