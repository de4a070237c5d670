"""Floyo features (see DESIGN.md)."""
