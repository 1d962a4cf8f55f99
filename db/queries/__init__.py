"""Spatial and analytical queries, one module per domain concept."""
