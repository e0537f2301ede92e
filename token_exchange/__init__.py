"""Token exchange for Oracle Integration: obtain (and cache) an OIC-scoped
token for a validated caller, and the API Gateway backend handler that calls
OIC with it.

Self-contained: imports nothing from outside this folder, because Fn builds
the token-exchange function from this folder alone. This file imports
nothing either, so the authorizer can use the light modules (``log``,
``settings``) without paying for ``requests`` at cold start.
"""
