"""Orthanc passwords are sealed under the master key in the data dir: a database dump opens no PACS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fhir_server.dicomweb.orthanc.connections import COLLECTION, ConnectionStore, HospitalConnection
from fhir_server.master_key import MasterKey
from fhir_server.settings import Settings
from fhir_server.storage.connection import DatabaseConnection, connect
from tests.fhir_server.dicomweb.federation_setup import Federation
from tests.fhir_server.dicomweb.orthanc_process import PASSWORD


@pytest.fixture
def database(tmp_path: Path) -> Iterator[DatabaseConnection]:
    connection = connect(Settings(data_dir=tmp_path / "data"), "cli")
    yield connection
    connection.close()


def hospital(password: str | None) -> HospitalConnection:
    return HospitalConnection(
        organization_id="org-1",
        identifier="HOS-1",
        name="One",
        orthanc_url="http://127.0.0.1:8042",
        wado_endpoint_id="org-1-dicomweb",
        qido_endpoint_id="org-1-dicomweb-qido",
        patient_id_system="urn:example:pid",
        username="sync",
        password=password,
    )


def test_password_round_trips_but_is_never_stored_in_clear(
    database: DatabaseConnection, tmp_path: Path
) -> None:
    store = ConnectionStore(database.documents, MasterKey.load_or_create(tmp_path / "data"))
    store.save(hospital("s3cret-pacs-password"))
    raw = database.db[COLLECTION].find_one({"_id": "org-1"})
    assert raw is not None and "s3cret-pacs-password" not in str(raw) and "password" not in raw
    assert raw["password_sealed"].count(".") == 4  # compact JWE
    loaded = store.get("org-1")
    assert loaded is not None and loaded.password == "s3cret-pacs-password"
    assert loaded.auth == ("sync", "s3cret-pacs-password")


def test_another_key_cannot_open_it(database: DatabaseConnection, tmp_path: Path) -> None:
    ConnectionStore(database.documents, MasterKey.load_or_create(tmp_path / "data")).save(hospital("pw"))
    stranger = ConnectionStore(database.documents, MasterKey.load_or_create(tmp_path / "elsewhere"))
    with pytest.raises(Exception):  # noqa: B017 - joserfc raises its own decryption error types
        stranger.get("org-1")


def test_no_password_stays_none(database: DatabaseConnection, tmp_path: Path) -> None:
    store = ConnectionStore(database.documents, MasterKey.load_or_create(tmp_path / "data"))
    store.save(hospital(None))
    loaded = store.get("org-1")
    assert loaded is not None and loaded.password is None and loaded.auth == ("sync", "")


def test_passwords_stored_in_clear_by_an_older_version_are_sealed_at_start(
    database: DatabaseConnection, tmp_path: Path
) -> None:
    store = ConnectionStore(database.documents, MasterKey.load_or_create(tmp_path / "data"))
    store.save(hospital(None))
    database.db[COLLECTION].update_one(
        {"_id": "org-1"}, {"$set": {"password": "plain-old"}, "$unset": {"password_sealed": ""}}
    )
    assert store.get("org-1").password == "plain-old"  # type: ignore[union-attr]  # readable before
    store.seal_plain_passwords()
    raw = database.db[COLLECTION].find_one({"_id": "org-1"})
    assert raw is not None and "password" not in raw and "plain-old" not in str(raw)
    assert store.get("org-1").password == "plain-old"  # type: ignore[union-attr]


def test_previous_master_key_file_is_taken_over(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "shl-master.key").write_bytes(b"k" * 32)
    key = MasterKey.load_or_create(data)
    assert (data / "master.key").read_bytes() == b"k" * 32 and not (data / "shl-master.key").exists()
    assert MasterKey(b"k" * 32).open(key.seal(b"x")) == b"x"


def test_federation_hospitals_have_no_clear_password_in_the_database(federation: Federation) -> None:
    db = federation.server.services.connection.db
    for doc in db[COLLECTION].find({}):
        assert PASSWORD not in str(doc) and "password" not in doc
