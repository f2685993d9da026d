"""Search routes (GET/POST [base]/[type] and _search, $everything); see fhir_server.search."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/fhir")
