"""The administration API for users and clients (admin token required)."""
