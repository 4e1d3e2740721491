"""Storage adapters behind the domain repositories' ports."""
