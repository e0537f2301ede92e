"""One function (or one operator tool) at a time, through the real fdk runtime
over its unix socket, against real peers on 127.0.0.1 (JWKS, token endpoint,
OIC, Vault, Redis)."""
