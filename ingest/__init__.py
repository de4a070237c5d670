"""Telemetry ingest: validation, idempotent storage in PostgreSQL, the HTTP API and the CSV loader."""
