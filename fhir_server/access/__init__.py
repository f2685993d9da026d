"""Who sees what: the per-request secured store and the access clauses it compiles into queries."""
