"""The login, patient-picker and consent pages of the authorization flow."""
