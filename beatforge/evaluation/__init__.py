"""Comparing charts: one-to-one note matching, rhythm F1."""
