"""The NSX Policy API driver (httpx): tags for ownership, one hierarchical PATCH per app."""

from drivers.nsx.client import NsxSettings
from drivers.nsx.driver import NsxDriver

__all__ = ["NsxDriver", "NsxSettings"]
