"""ASGI entry point for process managers: `uvicorn fhir_server.asgi:app --workers N`.

Each worker opens its own connection at start-up. Several workers need an external MongoDB
(FHIR_MONGODB_URI): the embedded database belongs to one process.
"""

from fhir_server.app import create_app
from fhir_server.settings import get_settings

app = create_app(get_settings())
