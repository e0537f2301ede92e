"""The whole local stack: the local API Gateway in front of both functions,
the identity provider, OIC, Vault and Redis, as `make demo` runs them."""
