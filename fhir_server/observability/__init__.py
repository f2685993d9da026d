"""Operations: structured JSON logs with request ids, Prometheus metrics, health endpoints."""
