package rxt.placement_test

import rego.v1

import data.rxt.placement

app := {"spec": {"placement": {"compliance": ["pci-dss"]}}}

targets(results) := {r.target | some r in results}

test_a_regulated_app_without_nsx_may_not_use_a_vm if {
	"vm" in targets(placement.forbid) with input as {"apps": {"pay": app}, "environment": {"sites": {}}}
}

test_a_regulated_app_with_nsx_may_use_a_vm if {
	not "vm" in targets(placement.forbid) with input as {"apps": {"pay": app}, "environment": {"sites": {"nsx": {"site": "n"}}}}
}

test_a_regulated_app_may_never_use_kubernetes if {
	"kubernetes" in targets(placement.forbid) with input as {"apps": {"pay": app}, "environment": {"sites": {}}}
}

test_an_ordinary_app_is_not_constrained if {
	count(placement.forbid) == 0 with input as {"apps": {"web": {"spec": {}}}, "environment": {"sites": {}}}
}
