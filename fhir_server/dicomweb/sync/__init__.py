"""Syncing each hospital's studies into ImagingStudy, Patient and Endpoint resources."""
