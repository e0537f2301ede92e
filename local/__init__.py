"""The local stack: an identity provider (Authlib), an OIC stub and a local
API Gateway (``gateway.py``, driven by ``deploy/*.json``), all on 127.0.0.1. Used by the tests and by `make demo`; never
shipped in a function image."""
