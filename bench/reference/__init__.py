"""Reference apps for `make bench`: the same job as Lexica's cached lookup on other servers and frameworks."""
