package rxt.pci_dss_test

import rego.v1

import data.rxt.pci_dss

app := {"spec": {
	"image": "registry.example.com/acme/pay@sha256:0123",
	"placement": {"compliance": ["pci-dss"]},
	"network": {"allowFrom": ["web"]},
	"expose": {"host": "pay.example.com", "tls": true},
}}

env := {"sites": {"vsphere": {"site": "sddc"}, "nsx": {"site": "nsx"}}, "sync": {"prune": true, "confirmPrune": ["vm"]}}

doc := {"apps": {"pay": app}, "placements": {"pay": {"target": "vm"}}, "environment": env}

rules(results) := {r.rule | some r in results}

test_a_compliant_app_passes if {
	count(pci_dss.deny) == 0 with input as doc
}

test_an_app_out_of_scope_is_ignored if {
	other := json.patch(doc, [{"op": "replace", "path": "/apps/pay/spec/placement/compliance", "value": []}, {"op": "replace", "path": "/placements/pay/target", "value": "kubernetes"}])
	count(pci_dss.deny) == 0 with input as other
}

test_kubernetes_placement_is_denied if {
	bad := json.patch(doc, [{"op": "replace", "path": "/placements/pay/target", "value": "kubernetes"}])
	"pci-dss.dedicated-vm" in rules(pci_dss.deny) with input as bad
}

test_no_nsx_site_is_denied if {
	bad := json.remove(doc, ["environment/sites/nsx"])
	"pci-dss.segmentation" in rules(pci_dss.deny) with input as bad
}

test_a_tag_instead_of_a_digest_is_denied if {
	bad := json.patch(doc, [{"op": "replace", "path": "/apps/pay/spec/image", "value": "acme/pay:1.0"}])
	"pci-dss.image-digest" in rules(pci_dss.deny) with input as bad
}

test_no_tls_is_denied if {
	bad := json.patch(doc, [{"op": "replace", "path": "/apps/pay/spec/expose/tls", "value": false}])
	"pci-dss.tls" in rules(pci_dss.deny) with input as bad
}

test_no_network_restriction_is_denied if {
	bad := json.remove(doc, ["apps/pay/spec/network"])
	"pci-dss.network-policy" in rules(pci_dss.deny) with input as bad
}

test_prune_without_approval_is_denied if {
	bad := json.patch(doc, [{"op": "replace", "path": "/environment/sync/confirmPrune", "value": []}])
	"pci-dss.prune-approval" in rules(pci_dss.deny) with input as bad
}
