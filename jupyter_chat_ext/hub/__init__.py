"""The model hub: search, pull, hardware profile, catalog, fits and roles (issue 18)."""
