"""OCI API Gateway custom authorizer for Oracle Integration: validates IDCS
(identity domain) bearer tokens and, in the authorizer-context topology,
hands the gateway an OIC-scoped token to forward."""

from authorizer.app import Authorizer, build_authorizer
from oic_gateway.errors import CannotDecide, ConfigError, TokenRejected

__all__ = ["Authorizer", "CannotDecide", "ConfigError", "TokenRejected", "build_authorizer"]
