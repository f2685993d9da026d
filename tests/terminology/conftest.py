import sys
from pathlib import Path

import pytest

# The repository has no packaging/pytest configuration yet; make the top-level `terminology`
# package importable however pytest is started. Harmless once a `pythonpath` setting exists.
_REPO_ROOT = str(Path(__file__).resolve().parents[2])
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from terminology.local import LocalTerminology  # noqa: E402


@pytest.fixture(scope="session")
def service() -> LocalTerminology:
    return LocalTerminology()
