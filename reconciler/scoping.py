"""The tenant fence on every commit of a repository a tenant registered through the API.

Registration checks the ``environment.yaml`` sent with it; a later commit could name another
tenant's folder, namespace or tier-1 gateway, or a site the operator never granted. The engine
checks every commit it loads for such repositories (``Reconciler.load`` and previews) with the
same rule as the API, ``state.access.scope_violations``, against the grants as they are now.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import Location, ManifestError
from planner.loading import LoadedEnvironment
from state.access import Grants, find_tenant, scope_violations
from state.database import Database


@dataclass(frozen=True)
class TenantScope:
    """Refuses an environment that reaches outside ``tenant``; call it with a loaded view."""

    database: Database
    tenant: str

    def __call__(self, view: LoadedEnvironment) -> None:
        """Raises:
        ManifestError: the environment names another tenant, an ungranted site, or a folder,
            namespace or gateway without the tenant's prefix; nothing of it is planned.
        """
        tenant_id = find_tenant(self.database, self.tenant)
        sites = Grants(self.database).sites(tenant_id) if tenant_id is not None else frozenset()
        document = view.environment.model_dump(mode="json", by_alias=True)
        violations = scope_violations(self.tenant, document, sites=sites)
        if violations:
            name = view.environment.metadata.name
            raise ManifestError(
                f"environment {name} reaches outside tenant {self.tenant}: "
                + "; ".join(violations),
                location=Location(f"environments/{name}/environment.yaml"),
                hint=f"name only sites granted to {self.tenant} and folders, namespaces and "
                f"gateways starting with '{self.tenant}-'; ask the operator for a grant",
            )
