"""The package's version, in one place: setuptools reads it for the distribution's metadata (pyproject.toml's
dynamic `version`), `lexica_client.__version__` re-exports it and the User-Agent header sends it."""

__version__ = "2.1.0"
