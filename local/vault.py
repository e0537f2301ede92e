"""A stand-in for the OCI Vault secrets endpoint, on loopback.

Serves ``GET /20190301/secretbundles/<secretId>`` as the real service does
and verifies each request's OCI HTTP signature (draft-cavage, rsa-sha256)
against the resource principal's public key, with ``keyId`` ``ST$<RPST>``.
So a test proves that the real ``oci`` SDK signed with the resource
principal, not merely that some request arrived.
"""

from __future__ import annotations

import base64
import re
from collections import Counter
from http.server import BaseHTTPRequestHandler

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from local.loopback import QuietHandler, http_server

_PARAM = re.compile(r'(\w+)="([^"]*)"')


class VaultStub:
    def __init__(self, rp_public_key: RSAPublicKey, rpst: str) -> None:
        self.secrets: dict[str, str] = {}  # ocid -> plain text
        self.reads: Counter[str] = Counter()
        self.rejected = 0
        self._key = rp_public_key
        self._rpst = rpst
        outer = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                if not outer._signed_by_resource_principal(self):
                    outer.rejected += 1
                    return self.send_json(401, {"code": "NotAuthenticated", "message": "bad signature"})
                match = re.fullmatch(r"/20190301/secretbundles/([^/?]+)(\?.*)?", self.path)
                ocid = match.group(1) if match else ""
                if ocid not in outer.secrets:
                    return self.send_json(404, {"code": "NotAuthorizedOrNotFound", "message": "not found"})
                outer.reads[ocid] += 1
                content = base64.b64encode(outer.secrets[ocid].encode()).decode()
                self.send_json(200, {"secretId": ocid, "versionNumber": outer.reads[ocid], "stages": ["CURRENT"],
                                     "secretBundleContent": {"contentType": "BASE64", "content": content}},
                               {"opc-request-id": "local"})

        self._server = http_server(Handler).start("vault-stub")
        self.url = self._server.base_url

    def _signed_by_resource_principal(self, request: BaseHTTPRequestHandler) -> bool:
        authorization = request.headers.get("Authorization", "")
        if not authorization.startswith("Signature "):
            return False
        params = dict(_PARAM.findall(authorization))
        if params.get("keyId") != "ST$" + self._rpst or params.get("algorithm") != "rsa-sha256":
            return False
        lines = []
        for name in params.get("headers", "").split():
            if name == "(request-target)":
                lines.append(f"(request-target): {request.command.lower()} {request.path}")
            else:
                lines.append(f"{name}: {request.headers.get(name, '')}")
        try:
            self._key.verify(base64.b64decode(params.get("signature", "")), "\n".join(lines).encode(),
                             padding.PKCS1v15(), hashes.SHA256())
        except (InvalidSignature, ValueError):
            return False
        return "date" in params.get("headers", "") and "(request-target)" in params.get("headers", "")

    def stop(self) -> None:
        self._server.stop()
