from collections.abc import Callable
from typing import Any

import pytest
from fhir.resources.R4B.endpoint import Endpoint

from mappers.endpoint import dicomweb_endpoints

ORG = "Organization/hospital-nord"
BASE = "http://orthanc-nord:8042/dicom-web"


def test_golden_orthanc_endpoints(golden: Callable[[str], Any]) -> None:
    endpoints = dicomweb_endpoints(ORG, BASE + "/", name="Orthanc Klinikum Nord")

    assert endpoints == golden("orthanc.endpoints.json")
    for endpoint in endpoints:
        Endpoint.model_validate(endpoint)


def test_one_endpoint_per_dicomweb_service_with_its_connection_type_and_payload_text() -> None:
    endpoints = dicomweb_endpoints(ORG, BASE, name="PACS")

    assert [(e["connectionType"]["code"], e["payloadType"]) for e in endpoints] == [
        ("dicom-wado-rs", [{"text": "DICOM WADO-RS"}]),
        ("dicom-qido-rs", [{"text": "DICOM QIDO-RS"}]),
        ("dicom-stow-rs", [{"text": "DICOM STOW-RS"}]),
    ]
    assert {e["connectionType"]["system"] for e in endpoints} == {
        "http://terminology.hl7.org/CodeSystem/endpoint-connection-type"
    }


def test_address_is_the_service_base_without_trailing_slash_and_org_manages_it() -> None:
    endpoints = dicomweb_endpoints(ORG, "  https://pacs.example.org/dicom-web/  ", name="PACS")

    assert {e["address"] for e in endpoints} == {"https://pacs.example.org/dicom-web"}
    assert {e["managingOrganization"]["reference"] for e in endpoints} == {ORG}
    assert {tuple(e["payloadMimeType"]) for e in endpoints} == {("application/dicom",)}


def test_status_is_passed_through_and_checked() -> None:
    assert {e["status"] for e in dicomweb_endpoints(ORG, BASE, name="PACS", status="off")} == {"off"}
    with pytest.raises(ValueError, match="status"):
        dicomweb_endpoints(ORG, BASE, name="PACS", status="disabled")


@pytest.mark.parametrize(
    "bad_base",
    [
        "orthanc:8042/dicom-web",
        "ftp://orthanc/dicom-web",
        "http:///dicom-web",
        "http://orthanc:8042/dicom-web/studies/1.2.3",
        "http://orthanc:8042/dicom-web/studies",
        "http://orthanc:8042/dicom-web?x=1",
    ],
)
def test_address_that_is_not_a_service_base_is_refused(bad_base: str) -> None:
    with pytest.raises(ValueError, match="DICOMweb base"):
        dicomweb_endpoints(ORG, bad_base, name="PACS")


def test_organization_and_name_are_required() -> None:
    with pytest.raises(ValueError):
        dicomweb_endpoints("", BASE, name="PACS")
    with pytest.raises(ValueError):
        dicomweb_endpoints(ORG, BASE, name="")
