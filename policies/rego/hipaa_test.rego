package rxt.hipaa_test

import rego.v1

import data.rxt.hipaa

doc := {
	"apps": {"records": {"spec": {
		"image": "acme/records:2.0",
		"placement": {"compliance": ["hipaa"]},
		"expose": {"host": "records.example.com", "tls": true},
		"env": {"DB_PASSWORD": {"secretRef": {"path": "records/db", "key": "password"}}},
		"volumes": [{"name": "data", "size": "10Gi"}],
	}}},
	"placements": {"records": {"target": "vm"}},
	"environment": {"sites": {"nsx": {"site": "nsx"}}},
}

rules(results) := {r.rule | some r in results}

test_a_compliant_app_passes if {
	count(hipaa.deny) == 0 with input as doc
}

test_volumes_warn_about_encryption if {
	"hipaa.encryption-at-rest" in rules(hipaa.warn) with input as doc
}

test_kubernetes_placement_is_denied if {
	bad := json.patch(doc, [{"op": "replace", "path": "/placements/records/target", "value": "kubernetes"}])
	"hipaa.dedicated-vm" in rules(hipaa.deny) with input as bad
}

test_a_literal_password_is_denied if {
	bad := json.patch(doc, [{"op": "replace", "path": "/apps/records/spec/env/DB_PASSWORD", "value": "x"}])
	"hipaa.secret-references" in rules(hipaa.deny) with input as bad
}

test_missing_segmentation_is_denied if {
	bad := json.remove(doc, ["environment/sites/nsx"])
	"hipaa.segmentation" in rules(hipaa.deny) with input as bad
}

test_no_tls_is_denied if {
	bad := json.patch(doc, [{"op": "replace", "path": "/apps/records/spec/expose/tls", "value": false}])
	"hipaa.tls" in rules(hipaa.deny) with input as bad
}
