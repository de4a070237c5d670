"""Floyo's shared kernel: settings, the event schema, database access, errors, logging and the CLI."""

__version__ = "0.1.0"
