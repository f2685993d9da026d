"""The OAuth 2.0 / SMART authorization server: grants, tokens, keys, revocation, discovery."""
