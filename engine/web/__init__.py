"""The litestar application: a thin shell over the Catalog, the runtime services and the pages."""
