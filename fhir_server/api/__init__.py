"""HTTP layer: thin FastAPI routes that parse the request and call an interaction."""
