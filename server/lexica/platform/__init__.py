"""Infrastructure shared by every domain: problems, bindings, middleware, pagination, caching."""
