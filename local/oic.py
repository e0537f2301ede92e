"""A stand-in for an Oracle Integration runtime host.

Serves ``/ic/api/integration/v1/flows/rest/<INTEGRATION>/<VERSION>/<path>``
(and OIC 3's ``/ic/api/integration/v2/flows/rest/project/<PROJECT>/<INTEGRATION>/<VERSION>/<path>``)
and accepts only a valid OIC-scoped bearer token: RS256, signed by the local
identity provider, with the OIC audience and the consumer scope. It echoes
who called, so tests can prove which identity reached OIC.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from flask import Flask, Response, jsonify, request

from local.loopback import Loopback, wsgi_server

logging.getLogger("werkzeug").setLevel(logging.WARNING)

OIC_SCOPE_NAME = "urn:opc:resource:consumer::all"
FLOWS = "/ic/api/integration/v1/flows/rest/"
PROJECT_FLOWS = "/ic/api/integration/v2/flows/rest/project/"
DESIGN_TIME = "/ic/api/integration/v1/integrations"


class OicStub:
    def __init__(self, audience: str, public_keys: Any) -> None:
        """``public_keys``: a callable returning the identity provider's public keys by kid."""
        self.audience = audience
        self._public_keys = public_keys
        self.requests: Counter[str] = Counter()
        self.seen_headers: list[dict[str, str]] = []
        self.seen_tokens: list[str] = []
        self.paths: list[str] = []  # every request's path as it arrived, flows or not
        self.fault: str | None = None  # "status:503" | "hang:<s>" | "reject_next:<n>"
        self.flask = self._build()
        self._server: Loopback | None = None
        self.url = ""

    def _verify(self, authorization: str | None) -> dict[str, Any] | None:
        if not authorization or not authorization.startswith("Bearer "):
            return None
        token = authorization[len("Bearer "):]
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key: RSAPublicKey | None = self._public_keys().get(kid)
            if key is None:
                return None
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=["RS256"], audience=self.audience,
                issuer="https://identity.oraclecloud.com/", options={"require": ["exp", "iat", "sub"]},
            )
        except jwt.PyJWTError:
            return None
        if OIC_SCOPE_NAME not in str(claims.get("scope", "")).split():
            return None
        self.seen_tokens.append(token)
        return claims

    def _build(self) -> Flask:
        app = Flask("oic-stub")
        stub = self

        @app.before_request
        def record() -> None:
            stub.paths.append(str(request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
                                  or request.path))

        @app.route(DESIGN_TIME, methods=["GET"])
        def design_time() -> Any:
            # OIC's design-time API: what a path that climbs out of /flows/rest reaches with an OIC token.
            if stub._verify(request.headers.get("Authorization")) is None:
                return Response("", status=401)
            return jsonify({"items": [{"id": "HELLO_WORLD|01.00.0000"}], "design_time_api": True})

        @app.route(PROJECT_FLOWS + "<project>/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
        def project_flow(project: str, rest: str) -> Any:
            answer = flow(rest)
            if isinstance(answer, Response) and answer.status_code == 200 and answer.is_json:
                body = answer.get_json()
                body["project"] = project
                answer.set_data(jsonify(body).get_data())
            return answer

        @app.route(FLOWS + "<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
        def flow(rest: str) -> Any:
            stub.requests[request.path] += 1
            stub.seen_headers.append({k.lower(): v for k, v in request.headers.items()})
            fault = stub.fault or ""
            kind, _, arg = fault.partition(":")
            if kind == "status":
                return Response('{"title":"Service Unavailable"}', status=int(arg), mimetype="application/json")
            if kind == "hang":
                time.sleep(float(arg))
            if kind == "reject_next" and int(arg) > 0:
                stub.fault = f"reject_next:{int(arg) - 1}"
                return Response("", status=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
            claims = stub._verify(request.headers.get("Authorization"))
            if claims is None:
                return Response("", status=401, headers={"WWW-Authenticate": "Bearer"})
            integration, _, version_and_path = rest.partition("/")
            version, _, path = version_and_path.partition("/")
            answer = {
                "integration": integration,
                "version": version,
                "path": "/" + path,
                "method": request.method,
                "query": request.query_string.decode(),
                "caller": claims["sub"],
                "caller_type": claims.get("sub_type"),
                "client_id": claims.get("client_id"),
                "message": f"Hello from {integration}",
            }
            if request.data:
                answer["received_bytes"] = len(request.data)
            response = jsonify(answer)
            response.headers["X-Oic-Trace"] = "local"
            return response

        return app

    def start(self) -> OicStub:
        self._server = wsgi_server(self.flask).start("oic-stub")
        self.url = self._server.base_url
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
