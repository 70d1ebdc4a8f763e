"""The HTTP API of ``rxt serve``: webhooks, health, readiness and metrics, and the tenant API
(``/api/v1``) when ``create_app`` is given ``TenantServices``."""

from rxt.api.access import TenantServices
from rxt.api.app import create_app
from rxt.api.state import ApiLimits

__all__ = ["ApiLimits", "TenantServices", "create_app"]
