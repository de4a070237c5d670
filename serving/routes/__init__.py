"""HTTP routes of the suggestions API, each a thin layer over ``serving.store`` and ``serving.answers``."""
