"""Hospitals as Organization + Endpoint: registration, addresses, health."""
