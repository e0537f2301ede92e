"""A local identity provider in the shape of an OCI IAM identity domain (IDCS),
built on Authlib's OAuth 2.0 server (Flask integration).

* ``POST /oauth2/v1/token``: ``client_credentials`` and the RFC 7523 user
  assertion (``urn:ietf:params:oauth:grant-type:jwt-bearer``), with client
  authentication ``client_secret_basic`` or ``private_key_jwt``; assertions
  are verified against the certificate (public key) registered for the app.
* ``GET /admin/v1/SigningCert/jwk``: the signing keys.
* Access tokens: RS256 JWTs shaped like IDCS's (kid SIGNING_KEY, iss
  https://identity.oraclecloud.com/, aud a list, scope a space-separated
  string). Scopes use the IDCS form "<primary audience><scope>".

Counts every request by path and misbehaves on cue (``faults``), so tests
can prove how many identity-provider calls the functions make. ``rate_limit``
enforces the identity domain's "Token Mgmt" limits on the token endpoint
(per second, per minute): beyond them, 429 with ``Retry-After``.
"""

from __future__ import annotations

import hmac
import logging
import math
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, ClassVar

import jwt
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc6749.errors import InvalidClientError, InvalidScopeError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion, JWTBearerGrant
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, Response, jsonify, request
from joserfc.jwk import RSAKey

from local.loopback import Loopback, wsgi_server

logging.getLogger("werkzeug").setLevel(logging.WARNING)

ISSUER = "https://identity.oraclecloud.com/"
MINT_VARIANTS = frozenset({"", "expired", "wrong-audience"})
IDCS_AUDIENCE = "https://identity.oraclecloud.com/"
CLIENT_ASSERTION = JWTBearerClientAssertion.CLIENT_AUTH_METHOD
DOMAIN_SCOPE = "urn:opc:idm:__myscopes__"


@dataclass
class App:
    """An identity-domain application (OAuth client)."""

    client_id: str
    client_secret: str | None = None
    grants: tuple[str, ...] = ("client_credentials",)
    scopes: tuple[str, ...] = ()  # full IDCS-form scopes this app may request
    public_key: rsa.RSAPublicKey | None = None  # trusted certificate, for assertions
    name: str = ""
    roles: tuple[str, ...] = ()

    def auth_methods(self) -> tuple[str, ...]:
        methods = []
        if self.client_secret:
            methods.append("client_secret_basic")
        if self.public_key is not None:
            methods.append(CLIENT_ASSERTION)
        return tuple(methods)


@dataclass
class Resource:
    """A resource-server app: its primary audience and the scopes it defines."""

    audience: str
    scopes: tuple[str, ...]


class _Client(ClientMixin):  # type: ignore[misc]
    def __init__(self, app: App) -> None:
        self.app = app

    def get_client_id(self) -> str:
        return self.app.client_id

    def get_default_redirect_uri(self) -> None:
        return None

    def get_allowed_scope(self, scope: str) -> str:
        return scope

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return self.app.client_secret is not None and client_secret == self.app.client_secret

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in self.app.auth_methods()

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        names = {"client_credentials": "client_credentials", JWTBearerGrant.GRANT_TYPE: "jwt_bearer"}
        return names.get(grant_type) in self.app.grants


@dataclass
class IdentityProvider:
    apps: dict[str, App] = field(default_factory=dict)
    resources: list[Resource] = field(default_factory=list)
    users: set[str] = field(default_factory=set)
    token_lifetime: int = 3600
    tenant: str = "idcs-local"

    def __post_init__(self) -> None:
        self.signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.signing_kid = "SIGNING_KEY"
        self.old_keys: list[dict[str, Any]] = []
        self.requests: Counter[str] = Counter()
        self.grants_issued: Counter[str] = Counter()
        self.jwks_requires_token = False  # "Access signing certificate" off
        self.faults: dict[str, str] = {}  # path -> "status:503" | "hang:<s>" | "html" | "slow:<s>"
        self.issued: list[str] = []  # every access token, for the tests' leak scan
        self.revoked: set[str] = set()  # tokens the introspection endpoint reports inactive
        self.rate_limit: tuple[int, int] | None = None  # token endpoint: (per second, per minute)
        self.throttled = 0  # 429s answered for the rate limit
        self._token_times: tuple[deque[float], deque[float]] = (deque(), deque())  # last second, last minute
        self._used_jti: set[str] = set()
        self._lock = threading.Lock()
        self.flask = self._build_flask()
        self._server: Loopback | None = None
        self.url = ""

    # -- keys and tokens -----------------------------------------------------

    def jwks(self) -> dict[str, Any]:
        key = RSAKey.import_key(self.signing_key.public_key())
        current = {**key.as_dict(private=False), "kid": self.signing_kid, "use": "sig", "alg": "RS256"}
        return {"keys": [current, *self.old_keys]}

    def rotate_signing_key(self, new_kid: str, keep_old: bool = True) -> None:
        if keep_old:
            self.old_keys = [self.jwks()["keys"][0]]
        self.signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.signing_kid = new_kid

    def resolve_scope(self, requested: str) -> tuple[list[str], list[str]]:
        """IDCS form: each requested scope is "<primary audience><scope>"."""
        audiences: list[str] = []
        scopes: list[str] = []
        for item in requested.split():
            for resource in self.resources:
                rest = item[len(resource.audience):] if item.startswith(resource.audience) else None
                if rest and rest in resource.scopes:
                    # Domain scopes (no audience prefix) are for the domain itself.
                    audience = resource.audience or IDCS_AUDIENCE
                    if audience not in audiences:
                        audiences.append(audience)
                    scopes.append(rest)
                    break
            else:
                raise InvalidScopeError(description=f"unknown scope {item}")
        return audiences, scopes

    def mint(self, client: App, user: str | None, scope: str, lifetime: int | None = None,
             **extra: Any) -> str:
        audiences, scopes = self.resolve_scope(scope)
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": audiences,
            "scope": " ".join(scopes),
            "sub": user or client.client_id,
            "sub_type": "user" if user else "client",
            "client_id": client.client_id,
            "client_name": client.name or client.client_id,
            "tok_type": "AT",
            "tenant": self.tenant,
            "iat": now,
            "exp": now + (lifetime or self.token_lifetime),
            "jti": uuid.uuid4().hex,
            **extra,
        }
        token = jwt.encode(claims, self.signing_key, algorithm="RS256",
                           headers={"kid": self.signing_kid, "x5t": "local", "x5t#S256": "local"})
        self.issued.append(token)
        return token

    # -- the server ----------------------------------------------------------

    def _build_flask(self) -> Flask:
        app = Flask("local-idp")
        idp = self

        def query_client(client_id: str) -> _Client | None:
            found = idp.apps.get(client_id)
            return _Client(found) if found else None

        def generate(grant_type: str, client: _Client, user: str | None = None, scope: str | None = None,
                     expires_in: int | None = None, include_refresh_token: bool = True) -> dict[str, Any]:
            idp.grants_issued[grant_type] += 1
            return {"access_token": idp.mint(client.app, user, scope or ""), "token_type": "Bearer",
                    "expires_in": idp.token_lifetime}

        class Server(AuthorizationServer):  # type: ignore[misc]
            def validate_requested_scope(self, scope: str) -> None:
                if not scope:
                    raise InvalidScopeError(description="scope is required")
                idp.resolve_scope(scope)
                client = request_client()
                if client is not None and not set(scope.split()) <= set(client.app.scopes):
                    raise InvalidScopeError(description="scope not granted to this app")

        def request_client() -> _Client | None:
            return getattr(request, "_oauth_client", None)

        server = Server(app, query_client=query_client, save_token=lambda token, req: None)
        server.register_token_generator("default", generate)

        class ClientAssertion(JWTBearerClientAssertion):  # type: ignore[misc]
            def get_audiences(self) -> list[str]:
                return [IDCS_AUDIENCE, idp.url + "/oauth2/v1/token"]

            def validate_jti(self, claims: dict[str, Any], jti: str) -> bool:
                with idp._lock:
                    if jti in idp._used_jti:
                        return False
                    idp._used_jti.add(jti)
                    return True

            def resolve_client_public_key(self, client: _Client) -> Any:
                if client.app.public_key is None:
                    raise InvalidClientError(description="no certificate registered")
                return RSAKey.import_key(client.app.public_key)

        server.register_client_auth_method(CLIENT_ASSERTION, ClientAssertion())

        class ClientCredentials(grants.ClientCredentialsGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", CLIENT_ASSERTION]

            def validate_token_request(self) -> None:
                client = self.authenticate_token_endpoint_client()
                request._oauth_client = client  # type: ignore[attr-defined]
                super().validate_token_request()

        class UserAssertion(JWTBearerGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", CLIENT_ASSERTION]

            def validate_token_request(self) -> None:
                # IDCS authenticates the client as well as verifying the assertion.
                client = self.authenticate_token_endpoint_client()
                request._oauth_client = client  # type: ignore[attr-defined]
                super().validate_token_request()
                if self.request.client.get_client_id() != client.get_client_id():
                    raise InvalidClientError(description="assertion issuer is not the authenticated client")

            def get_audiences(self) -> list[str]:
                return [IDCS_AUDIENCE]

            def resolve_issuer_client(self, issuer: str) -> _Client | None:
                return query_client(issuer)

            def resolve_client_public_key(self, client: _Client) -> Any:
                if client.app.public_key is None:
                    raise InvalidClientError(description="no certificate registered")
                return RSAKey.import_key(client.app.public_key)

            def authenticate_user(self, subject: str) -> str | None:
                return subject if subject in idp.users else None

            def has_granted_permission(self, client: _Client, user: str) -> bool:
                return True

        server.register_grant(ClientCredentials)
        server.register_grant(UserAssertion)

        class IssuedJwt:
            """A token this provider issued, as the introspection endpoint sees it."""

            def __init__(self, claims: dict[str, Any], raw: str) -> None:
                self.claims, self.raw = claims, raw

            def is_expired(self) -> bool:
                return bool(self.claims["exp"] <= time.time())

            def is_revoked(self) -> bool:
                return self.raw in idp.revoked

        class Introspection(IntrospectionEndpoint):  # type: ignore[misc]
            CLIENT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic"]

            def query_token(self, token_string: str, token_type_hint: str | None) -> IssuedJwt | None:
                try:
                    claims = jwt.decode(token_string, idp.signing_key.public_key(), algorithms=["RS256"],
                                        options={"verify_aud": False, "verify_exp": False})
                except jwt.PyJWTError:
                    return None
                return IssuedJwt(claims, token_string)

            def check_permission(self, token: IssuedJwt, client: _Client, req: Any) -> bool:
                return True

            def introspect_token(self, token: IssuedJwt) -> dict[str, Any]:
                keep = ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "jti")
                return {"active": True, "token_type": "Bearer", **{k: token.claims[k] for k in keep
                                                                    if k in token.claims}}

        server.register_endpoint(Introspection)

        @app.before_request
        def count_and_fault() -> Response | None:
            idp.requests[request.path] += 1
            if request.path == "/oauth2/v1/token" and idp.rate_limit is not None:
                wait = idp._rate_limited(time.monotonic())
                if wait is not None:
                    response = jsonify({"error": "too_many_requests"})
                    response.status_code = 429
                    response.headers["Retry-After"] = str(wait)
                    return response
            fault = idp.faults.get(request.path)
            if not fault:
                return None
            kind, _, arg = fault.partition(":")
            if kind == "status":
                response = jsonify({"error": "temporarily_unavailable"})
                response.status_code = int(arg)
                return response
            if kind == "hang":
                time.sleep(float(arg or 10))
                return Response("", status=504)
            if kind == "html":
                return Response("<html><body>Service Unavailable</body></html>", status=200, mimetype="text/html")
            if kind == "slow":
                time.sleep(float(arg))
            return None

        @app.post("/oauth2/v1/token")
        def token() -> Any:
            return server.create_token_response()

        @app.post("/oauth2/v1/introspect")
        def introspect() -> Any:
            return server.create_endpoint_response(Introspection.ENDPOINT_NAME)

        @app.post("/local/mint")
        def local_mint() -> Any:
            """Not an IDCS endpoint: test tokens for an operator trying the
            local stack (``python -m local.mint``). The client authenticates
            as on the token endpoint and may ask only for its own scopes."""
            auth = request.authorization
            app_ = idp.apps.get(auth.username or "") if auth is not None else None
            if auth is None or app_ is None or not app_.client_secret or not hmac.compare_digest(
                    app_.client_secret, auth.password or ""):
                response = jsonify({"error": "invalid_client"})
                response.status_code = 401
                return response
            scope = request.form.get("scope", "")
            variant = request.form.get("variant", "")
            if scope not in app_.scopes or variant not in MINT_VARIANTS:
                response = jsonify({"error": "invalid_request", "variants": sorted(MINT_VARIANTS)})
                response.status_code = 400
                return response
            now = int(time.time())
            extra: dict[str, Any] = {}
            if variant == "expired":
                extra = {"iat": now - 7200, "exp": now - 3600}
            elif variant == "wrong-audience":
                extra = {"aud": ["https://elsewhere.example/"]}
            return jsonify({"access_token": idp.mint(app_, None, scope, **extra), "token_type": "Bearer"})

        @app.get("/admin/v1/SigningCert/jwk")
        def signing_cert() -> Any:
            if idp.jwks_requires_token and not idp._authorized_for_jwks(request.headers.get("Authorization", "")):
                response = jsonify({"status": "401", "detail": "This operation is not permitted."})
                response.status_code = 401
                return response
            return jsonify(idp.jwks())

        return app

    def limit_token_rate(self, limits: tuple[int, int] | None) -> None:
        """Enforce (per second, per minute) on the token endpoint from now on; None: no limit."""
        with self._lock:
            self.rate_limit = limits
            self._token_times = (deque(), deque())

    def _rate_limited(self, now: float) -> int | None:
        """Seconds to wait if this request exceeds the limits, else None (and it counts)."""
        assert self.rate_limit is not None
        with self._lock:
            waits = []
            for limit, window, times in zip(self.rate_limit, (1.0, 60.0), self._token_times, strict=True):
                while times and times[0] <= now - window:
                    times.popleft()
                if len(times) >= limit:
                    waits.append(times[len(times) - limit] + window - now)
            if waits:
                self.throttled += 1
                return max(math.ceil(max(waits)), 1)
            for times in self._token_times:
                times.append(now)
            return None

    def _authorized_for_jwks(self, authorization: str) -> bool:
        if not authorization.startswith("Bearer "):
            return False
        try:
            claims = jwt.decode(authorization[7:], self.signing_key.public_key(), algorithms=["RS256"],
                                audience=IDCS_AUDIENCE, issuer=ISSUER)
        except jwt.PyJWTError:
            return False
        return DOMAIN_SCOPE in str(claims.get("scope", "")).split()

    def start(self) -> IdentityProvider:
        self._server = wsgi_server(self.flask).start("local-idp")
        self.url = self._server.base_url
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    @property
    def token_url(self) -> str:
        return self.url + "/oauth2/v1/token"

    @property
    def jwks_url(self) -> str:
        return self.url + "/admin/v1/SigningCert/jwk"

    def token_requests(self) -> int:
        return self.requests["/oauth2/v1/token"]
