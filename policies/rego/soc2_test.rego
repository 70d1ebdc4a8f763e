package rxt.soc2_test

import rego.v1

import data.rxt.soc2

doc := {
	"apps": {"web": {"metadata": {"labels": {"team": "storefront"}}, "spec": {"health": {"path": "/"}}}},
	"environment": {"sync": {"prune": true, "confirmPrune": ["vm", "volume"]}},
	"changes": [],
}

rules(results) := {r.rule | some r in results}

test_an_owned_app_passes if {
	count(soc2.deny) == 0 with input as doc
	count(soc2.warn) == 0 with input as doc
}

test_an_app_without_a_team_is_denied if {
	bad := json.remove(doc, ["apps/web/metadata/labels/team"])
	"soc2.owner-label" in rules(soc2.deny) with input as bad
}

test_prune_without_volume_approval_is_denied if {
	bad := json.patch(doc, [{"op": "replace", "path": "/environment/sync/confirmPrune", "value": ["vm"]}])
	"soc2.confirm-prune" in rules(soc2.deny) with input as bad
}

test_prune_off_needs_no_approval_list if {
	off := json.patch(doc, [{"op": "replace", "path": "/environment/sync", "value": {"prune": false, "confirmPrune": []}}])
	count(soc2.deny) == 0 with input as off
}

test_a_deletion_warns if {
	change := {"action": "delete", "app": "web", "platform": "kubernetes", "kind": "Service", "name": "web"}
	changed := json.patch(doc, [{"op": "replace", "path": "/changes", "value": [change]}])
	"soc2.deletion" in rules(soc2.warn) with input as changed
}
