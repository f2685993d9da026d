"""The secured store: the one place that decides what a request may read and write."""
