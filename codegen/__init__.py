"""Lexica's code generator: specs in, models, server interfaces, route bindings and the SDK out."""
