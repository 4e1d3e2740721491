"""MongoDB storage through PyMongo's async API (placeholder docstring, completed below)."""
