"""pyVmomi's ``vim`` and ``vmodl`` namespaces, typed as ``Any`` for the rest of this package.

pyVmomi's partial type hints disagree with its runtime (optional fields typed as ``None``,
constructors untyped); its objects never leave ``drivers/vsphere/``, so they are kept untyped here.
"""

from __future__ import annotations

from typing import Any

from pyVim import connect as _connect
from pyVmomi import vim as _vim
from pyVmomi import vmodl as _vmodl

vim: Any = _vim
vmodl: Any = _vmodl
SmartConnect: Any = _connect.SmartConnect
Disconnect: Any = _connect.Disconnect
