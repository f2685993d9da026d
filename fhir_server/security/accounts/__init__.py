"""Users and registered client applications, and the operator commands that manage them."""
