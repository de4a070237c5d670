"""HTTP routes of the ingest API, each a thin layer over a plain function."""
