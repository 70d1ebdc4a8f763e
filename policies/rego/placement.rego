# Placement constraints: `forbid` vetoes the target the decision matrix chose; it never moves an app.
package rxt.placement

import rego.v1

regulated(app) if {
	some regime in object.get(app.spec, ["placement", "compliance"], [])
	regime in {"pci-dss", "hipaa"}
}

# A regulated app on a VM is segmented by NSX; without an NSX site it would sit on a shared network.
forbid contains result if {
	some name, app in input.apps
	regulated(app)
	not input.environment.sites.nsx
	result := {"rule": "placement.segmentation-needs-nsx", "app": name, "target": "vm", "msg": "regulated apps run on VMs only where NSX segments them; add spec.sites.nsx"}
}

forbid contains result if {
	some name, app in input.apps
	regulated(app)
	result := {"rule": "placement.regulated-off-kubernetes", "app": name, "target": "kubernetes", "msg": "pci-dss and hipaa apps never share Kubernetes nodes"}
}
