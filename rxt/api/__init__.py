"""The HTTP API of ``rxt serve``: webhooks, health, readiness and metrics; built by
``create_app``. The tenant API (``/api/v1``) is not built yet."""

from rxt.api.app import create_app
from rxt.api.state import ApiLimits

__all__ = ["ApiLimits", "create_app"]
