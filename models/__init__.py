"""Floyo models (see DESIGN.md)."""
