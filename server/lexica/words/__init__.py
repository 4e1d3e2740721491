"""Dictionary entries: lookup, headword listing, search and import."""
