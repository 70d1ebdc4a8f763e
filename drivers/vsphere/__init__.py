"""The vSphere driver (pyvmomi): VMs cloned from templates, marked with custom attributes."""

from drivers.vsphere.driver import VsphereDriver
from drivers.vsphere.faults import PowerCycleRequired

__all__ = ["PowerCycleRequired", "VsphereDriver"]
