"""The shared core: the code both functions run.

* verifying a caller's token: ``encoding``, ``jws``, ``jwk``, ``claims``,
  ``keystore``, ``idp`` (key sets over HTTP), ``issuers``, ``verifier``,
  ``verifier_config``;
* deciding what a verified caller may reach: ``paths`` (the one path rule),
  ``policy`` (access rules), ``subjects`` (which OIC user a caller is);
* plumbing: ``settings`` (strict reading of configuration), ``secret_sources``
  (inline or OCI Vault), ``client_auth``, ``http``, ``lru``, ``log``,
  ``errors`` (the typed errors of both functions).

It lives inside ``token_exchange/`` because Fn builds each function from its
own folder: the token-exchange image holds this folder and nothing above it,
while the authorizer's image (built from the repository root) holds
``token_exchange/`` too. So both import it as ``oic_gateway``, and
there is exactly one copy.
"""
