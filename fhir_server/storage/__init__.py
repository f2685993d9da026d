"""The database: the FHIR store (with its current-version cache and change feed), the feature document store,
the schema and its migrations.

The only package that imports the driver (pymongo, bson); the import contract in pyproject.toml checks it.
"""
