"""Lexica: a contract-first dictionary API."""

__version__ = "0.1.0"
