"""Lexica: a contract-first dictionary API."""

__version__ = "1.0.0"
