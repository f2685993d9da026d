"""The audit log: AuditEvents for every access to patient data, searchable by administrators."""
