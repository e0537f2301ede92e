"""Verification: is this bearer token one of ours, unaltered and current?

JWS parsing and signature checks (``encoding``, ``jws``, ``jwk``), claims
(``claims``), key sets and their refresh (``keystore``, ``idp``), trusted
issuers (``issuers``), the ``verify()`` facade (``verifier``), its settings
(``config``), the bearer header (``bearer``) and RFC 7662 introspection
(``introspection``). Pure, with a clock injected, except ``idp`` and
``introspection``, which reach the identity domain through ``net``.
"""
