"""Baseline: an authorizer in the style of the public samples. It imports
oci, jwt (PyJWT) and requests at module level, and verifies with PyJWT."""

import io
import json
import os
from typing import Any

import jwt
import oci  # noqa: F401  (the samples import it at module level for Vault)
import requests
from fdk import response

_keys: dict[str, Any] = {}


def handler(ctx, data: io.BytesIO | None = None):  # type: ignore[no-untyped-def]
    body = json.loads(data.getvalue() if data is not None else b"{}")
    token = body.get("token", "").split(" ", 1)[-1]
    if not _keys:
        for jwk in requests.get(os.environ["JWKS_URL"], timeout=5).json()["keys"]:
            _keys[jwk["kid"]] = jwt.PyJWK(jwk).key
    kid = jwt.get_unverified_header(token)["kid"]
    claims = jwt.decode(token, _keys[kid], algorithms=["RS256"], audience=os.environ["TOKEN_AUDIENCES"])
    answer = {"active": True, "principal": claims["sub"], "scope": claims["scope"].split(), "expiresAt": "x",
              "context": {"sub": claims["sub"]}}
    return response.Response(ctx, response_data=json.dumps(answer), headers={"Content-Type": "application/json"})
