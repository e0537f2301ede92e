"""The network edge: every outbound exchange is bounded here.

``http`` (the stdlib client for key sets, discovery and introspection),
``deadline`` (the watchdog session for the token endpoint and OIC),
``secret_sources`` (inline values or OCI Vault) and ``client_auth``.
"""
