"""Minting test tokens, well formed or deliberately not.

Signing is done here with ``cryptography`` directly (not with the code under
test) so that the tests can build every malformed variant they need.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ISSUER = "https://identity.oraclecloud.com/"
AUDIENCE = "https://apigw.example.com/oic"
SCOPE = "oic-invoke"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def uint_b64(value: int) -> str:
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@dataclass
class Signer:
    kid: str
    key: rsa.RSAPrivateKey = field(repr=False)

    @classmethod
    def generate(cls, kid: str = "SIGNING_KEY", bits: int = 2048) -> Signer:
        return cls(kid, rsa.generate_private_key(public_exponent=65537, key_size=bits))

    def jwk(self, **extra: Any) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        return {"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256",
                "n": uint_b64(numbers.n), "e": uint_b64(numbers.e), **extra}

    def private_pem(self) -> str:
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    def sign(self, signing_input: bytes) -> bytes:
        return self.key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())

    def mint_raw(self, header_b64: str, payload_b64: str) -> str:
        signing_input = f"{header_b64}.{payload_b64}".encode()
        return remember(f"{header_b64}.{payload_b64}.{b64url(self.sign(signing_input))}")

    def mint(self, claims: dict[str, Any] | None = None, header: dict[str, Any] | None = None,
             **overrides: Any) -> str:
        hdr = {"alg": "RS256", "kid": self.kid, "typ": "JWT"} if header is None else header
        return self.mint_raw(b64url_json(hdr), b64url_json(idcs_claims(**overrides) if claims is None else claims))


def idcs_claims(**overrides: Any) -> dict[str, Any]:
    """Claims in the shape of an IDCS client-credentials access token."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": [AUDIENCE, "urn:opc:lbaas:logicalguid=abc"],
        "scope": f"{SCOPE} other.scope",
        "sub": "vendor-app",
        "sub_type": "client",
        "client_id": "vendor-app",
        "client_name": "Vendor",
        "tok_type": "AT",
        "tenant": "idcs-test",
        "iat": now - 10,
        "exp": now + 3600,
        "jti": uuid.uuid4().hex,
    }
    return with_overrides(claims, overrides)


def with_overrides(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``base`` with members set, or removed where the value is ``DROP``."""
    for name, value in overrides.items():
        if value is DROP:
            base.pop(name, None)
        else:
            base[name] = value
    return base


DROP = object()

# Every token and secret the tests create, so that the hygiene check can prove
# none of them reaches any function's output.
SENSITIVE: set[str] = set()


def remember(token: str) -> str:
    SENSITIVE.add(token)
    signature = token.rsplit(".", 1)[-1]
    if len(signature) >= 16:
        SENSITIVE.add(signature)
    return token


def leaked(text: str) -> list[str]:
    """The remembered tokens, signatures and secrets found in ``text``. Values
    under 16 characters (fragments a mutation test left) cannot be told from
    ordinary words and are not secrets."""
    return [s[:12] + "..." for s in SENSITIVE if len(s) >= 16 and s in text]


def resource_principal(function_ocid: str = "ocid1.fnfunc.oc1.iad.test") -> tuple[Signer, str]:
    """A function's resource principal: its session key and an RPST (a JWT of type ``res``) signed with it, as
    OCI Functions hands them to a function."""
    key = Signer.generate("rp")
    now = int(time.time())
    rpst = key.mint(claims={"sub": function_ocid, "res_tenant": "ocid1.tenancy.oc1..test",
                            "res_compartment": "ocid1.compartment.oc1..test", "ttype": "res",
                            "iat": now, "exp": now + 3600})
    return key, rpst


def resource_principal_env(key: Signer, rpst: str, secrets_endpoint: str) -> dict[str, str]:
    """What the oci SDK's resource-principal signer reads (version 2.2), and the Vault endpoint it calls."""
    return {
        "OCI_RESOURCE_PRINCIPAL_VERSION": "2.2",
        "OCI_RESOURCE_PRINCIPAL_RPST": rpst,
        "OCI_RESOURCE_PRINCIPAL_PRIVATE_PEM": key.private_pem(),
        "OCI_RESOURCE_PRINCIPAL_REGION": "us-ashburn-1",
        "OCI_SECRETS_ENDPOINT": secrets_endpoint,
    }


def authorizer_env(jwks_url: str, **extra: str) -> dict[str, str]:
    return {
        "JWKS_URL": jwks_url,
        "TOKEN_AUDIENCES": AUDIENCE,
        "REQUIRED_SCOPES": SCOPE,
        **extra,
    }


def single(token: str, scheme: str = "Bearer ") -> dict[str, Any]:
    return {"type": "TOKEN", "token": scheme + token}


def multi(token: Any, **args: Any) -> dict[str, Any]:
    data = dict(args)
    if token is not None:
        data["token"] = token
    return {"type": "USER_DEFINED", "data": data}
