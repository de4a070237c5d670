"""Floyo app_streamlit (see DESIGN.md)."""
