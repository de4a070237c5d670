"""The Celery app for the ``celery`` command: ``celery -A jobs.worker worker --beat``."""

from __future__ import annotations

from jobs.celery_app import create_celery

app = create_celery()
