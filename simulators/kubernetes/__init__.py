"""A fake Kubernetes API server speaking the real REST protocol, for tests and the demo.

``FakeApiServer`` serves discovery, CRUD, JSON merge patch and server-side apply with
managedFields, validates with the ``kubernetes-validate`` schemas, and runs tiny controllers.
"""

from simulators.kubernetes.kubeconfig import write_kubeconfig
from simulators.kubernetes.server import FakeApiServer, Faults

__all__ = ["FakeApiServer", "Faults", "write_kubeconfig"]
