import pytest

from terminology.local import LocalTerminology


@pytest.fixture(scope="session")
def service() -> LocalTerminology:
    return LocalTerminology()
