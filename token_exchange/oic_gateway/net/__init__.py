"""The network edge: every outbound exchange is bounded here.

``http`` (the stdlib client for key sets, discovery and introspection),
``deadline`` (the watchdog session for the token endpoint and OIC),
``resolve`` (name resolution within a deadline), ``secret_sources`` (inline
values or OCI Vault) and ``client_auth``.

One deadline per call: the function derives it from ``Fn-Deadline`` (less
``deadline.MARGIN_SECONDS`` to answer in) and passes it down as an absolute
``time.monotonic()`` value, never as a fresh timeout per step, so retries,
lock waits, name resolution, connect, TLS, headers and body all draw on the
same budget. ``http`` sets each socket call's timeout to the time left;
``deadline.guard`` shuts the socket down at the deadline; ``resolve`` waits
on ``getaddrinfo`` in a daemon thread only until then.
"""
