"""`make mutate`: mutation testing of the security core (see __main__.py and docs/testing.md)."""
