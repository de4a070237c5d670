"""Floyo serving (see DESIGN.md)."""
