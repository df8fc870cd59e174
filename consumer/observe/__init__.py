"""What the worker tells the outside: logs, Prometheus metrics and the health endpoints."""
