"""The identity-domain set-up of docs/setup-oci.md (step 1), as seed data for the local IdP.

* the API Gateway resource app: primary audience APIGW_AUDIENCE, scope APIGW_SCOPE;
* the vendor's client app (client credentials, may request the APIGW scope);
* the OIC confidential app (client credentials and JWT assertion, with a
  trusted certificate, may request the OIC consumer scope);
* one user, for identity propagation.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from local.idp import DOMAIN_SCOPE, App, IdentityProvider, Resource
from local.oic import OIC_SCOPE_NAME, OicStub

APIGW_AUDIENCE = "https://apigw.local/"
APIGW_SCOPE = "oic-invoke"
APIGW_OTHER_SCOPE = "read-only"
OIC_AUDIENCE = "https://oic.local:443"
OIC_SCOPE = OIC_AUDIENCE + OIC_SCOPE_NAME
VENDOR_ID = "vendor-app"
OIC_CLIENT_ID = "oic-client"
OIC_KEY_ALIAS = "oic-client-cert"
USER = "alice@example.com"
AUTHORIZER_ID = "apigw-authorizer"


@dataclass
class Seeded:
    idp: IdentityProvider
    oic: OicStub
    vendor_secret: str
    oic_client_secret: str
    oic_assertion_key_pem: str
    authorizer_secret: str

    def authorizer_env(self, **extra: str) -> dict[str, str]:
        return {
            "JWKS_URL": self.idp.jwks_url,
            "TOKEN_AUDIENCES": APIGW_AUDIENCE,
            "REQUIRED_SCOPES": APIGW_SCOPE,
            **extra,
        }

    def exchange_env(self, **extra: str) -> dict[str, str]:
        return {
            "OIC_TOKEN_URL": self.idp.token_url,
            "OIC_CLIENT_ID": OIC_CLIENT_ID,
            "OIC_CLIENT_SECRET": self.oic_client_secret,
            "OIC_SCOPE": OIC_SCOPE,
            **extra,
        }

    def jwt_bearer_env(self, **extra: str) -> dict[str, str]:
        settings = {
            "OIC_GRANT_TYPE": "jwt_bearer",
            "OIC_ASSERTION_KEY": self.oic_assertion_key_pem,
            "OIC_ASSERTION_KEY_ID": OIC_KEY_ALIAS,
            **extra,
        }
        return self.exchange_env(**settings)

    def vendor_token(self, scope: str = APIGW_SCOPE, **extra: Any) -> str:
        """A vendor token minted directly (no token-endpoint request counted)."""
        return self.idp.mint(self.idp.apps[VENDOR_ID], None, APIGW_AUDIENCE + scope, **extra)

    def user_token(self, user: str = USER, **extra: Any) -> str:
        return self.idp.mint(self.idp.apps[VENDOR_ID], user, APIGW_AUDIENCE + APIGW_SCOPE, **extra)

    def stop(self) -> None:
        self.oic.stop()
        self.idp.stop()


def seeded_stack() -> Seeded:
    vendor_secret = secrets.token_urlsafe(24)
    authorizer_secret = secrets.token_urlsafe(24)
    oic_secret = secrets.token_urlsafe(24)
    assertion_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = assertion_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    idp = IdentityProvider(
        apps={
            VENDOR_ID: App(VENDOR_ID, vendor_secret, ("client_credentials",),
                           (APIGW_AUDIENCE + APIGW_SCOPE, APIGW_AUDIENCE + APIGW_OTHER_SCOPE), name="Vendor"),
            OIC_CLIENT_ID: App(OIC_CLIENT_ID, oic_secret, ("client_credentials", "jwt_bearer"), (OIC_SCOPE,),
                               public_key=assertion_key.public_key(), name="OIC gateway client",
                               roles=("ServiceInvoker",)),
            AUTHORIZER_ID: App(AUTHORIZER_ID, authorizer_secret, ("client_credentials",), (DOMAIN_SCOPE,),
                               name="API Gateway authorizer (reads the signing keys)"),
        },
        resources=[
            Resource(APIGW_AUDIENCE, (APIGW_SCOPE, APIGW_OTHER_SCOPE)),
            Resource(OIC_AUDIENCE, (OIC_SCOPE_NAME,)),
            Resource("", (DOMAIN_SCOPE,)),
        ],
        users={USER},
    ).start()
    oic = OicStub(OIC_AUDIENCE, lambda: {idp.signing_kid: idp.signing_key.public_key()}).start()
    return Seeded(idp, oic, vendor_secret, oic_secret, pem, authorizer_secret)
