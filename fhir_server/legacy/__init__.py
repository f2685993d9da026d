"""The old Flask app: importing its SQLite database and the routes its clients still call."""
