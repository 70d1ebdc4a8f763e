# PCI DSS: apps that handle cardholder data (placement.compliance contains pci-dss).
package rxt.pci_dss

import rego.v1

in_scope contains name if {
	some name, app in input.apps
	"pci-dss" in object.get(app.spec, ["placement", "compliance"], [])
}

deny contains result if {
	some name in in_scope
	input.placements[name].target != "vm"
	result := {"rule": "pci-dss.dedicated-vm", "app": name, "msg": sprintf("app '%s' is in PCI scope but placed on %s; it must run on a dedicated VM", [name, input.placements[name].target])}
}

deny contains result if {
	some name in in_scope
	not input.environment.sites.nsx
	result := {"rule": "pci-dss.segmentation", "app": name, "msg": sprintf("app '%s' is in PCI scope but the environment has no NSX site to segment it; add spec.sites.nsx", [name])}
}

deny contains result if {
	some name in in_scope
	app := input.apps[name]
	app.spec.expose
	not app.spec.expose.tls
	result := {"rule": "pci-dss.tls", "app": name, "msg": sprintf("app '%s' is in PCI scope and exposed without TLS", [name])}
}

deny contains result if {
	some name in in_scope
	not contains(input.apps[name].spec.image, "@sha256:")
	result := {"rule": "pci-dss.image-digest", "app": name, "msg": sprintf("app '%s' is in PCI scope; pin its image by digest (@sha256:...)", [name])}
}

deny contains result if {
	some name in in_scope
	network := object.get(input.apps[name].spec, "network", {})
	count(object.get(network, "allowFrom", [])) == 0
	count(object.get(network, "egress", [])) == 0
	result := {"rule": "pci-dss.network-policy", "app": name, "msg": sprintf("app '%s' is in PCI scope but declares no network.allowFrom or egress; restrict its traffic", [name])}
}

deny contains result if {
	some name in in_scope
	some rule in object.get(input.apps[name].spec, ["network", "egress"], [])
	startswith(rule, "0.0.0.0/0")
	result := {"rule": "pci-dss.egress-any", "app": name, "msg": sprintf("app '%s' is in PCI scope and allows egress to anywhere", [name])}
}

deny contains result if {
	count(in_scope) > 0
	input.environment.sync.prune
	not "vm" in input.environment.sync.confirmPrune
	result := {"rule": "pci-dss.prune-approval", "msg": "PCI apps are pruned automatically; add vm to sync.confirmPrune so deletions need approval"}
}
