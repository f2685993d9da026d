"""What a verified token allows: the bearer check, scopes, compartments, policy."""
