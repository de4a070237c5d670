"""Floyo agent (see DESIGN.md)."""
