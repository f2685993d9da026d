"""What the dashboard tests share with their fixtures: the server under test, its users, the browser."""

from __future__ import annotations

from dataclasses import dataclass

from tests.server_process import SecuredServer

ADMIN = ("ada", "ada-secret-pass")
CLINICIAN = ("carl", "carl-secret-pass")


@dataclass
class DashboardServer(SecuredServer):
    def url(self, path: str) -> str:
        return f"{self.origin}/{path.lstrip('/')}"
