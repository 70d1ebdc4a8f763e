package rxt.baseline_test

import rego.v1

import data.rxt.baseline

good := {"spec": {
	"image": "registry.example.com/acme/api:1.4.2",
	"replicas": 2,
	"resources": {"cpu": "1", "memory": "1Gi"},
	"health": {"path": "/healthz", "port": "http"},
	"expose": {"host": "api.example.com", "tls": true},
	"env": {"LOG_LEVEL": "info"},
}}

rules(results) := {r.rule | some r in results}

test_a_good_app_is_not_denied if {
	count(baseline.deny) == 0 with input as {"apps": {"api": good}}
}

test_a_missing_cpu_request_is_denied if {
	app := json.remove(good, ["spec/resources/cpu"])
	"baseline.resource-limits" in rules(baseline.deny) with input as {"apps": {"api": app}}
}

test_the_latest_tag_is_denied if {
	app := json.patch(good, [{"op": "replace", "path": "/spec/image", "value": "nginx:latest"}])
	"baseline.image-tag" in rules(baseline.deny) with input as {"apps": {"api": app}}
}

test_an_untagged_image_is_denied if {
	app := json.patch(good, [{"op": "replace", "path": "/spec/image", "value": "registry:5000/acme/api"}])
	"baseline.image-tag" in rules(baseline.deny) with input as {"apps": {"api": app}}
}

test_a_digest_is_neither_denied_nor_warned if {
	app := json.patch(good, [{"op": "replace", "path": "/spec/image", "value": "acme/api@sha256:abc"}])
	count(baseline.deny) == 0 with input as {"apps": {"api": app}}
	not "baseline.image-digest" in rules(baseline.warn) with input as {"apps": {"api": app}}
}

test_exposure_without_tls_is_denied if {
	app := json.patch(good, [{"op": "replace", "path": "/spec/expose/tls", "value": false}])
	"baseline.tls" in rules(baseline.deny) with input as {"apps": {"api": app}}
}

test_egress_to_anywhere_is_denied if {
	app := json.patch(good, [{"op": "add", "path": "/spec/network", "value": {"egress": ["0.0.0.0/0:443"]}}])
	"baseline.egress-any" in rules(baseline.deny) with input as {"apps": {"api": app}}
}

test_a_literal_password_is_denied if {
	app := json.patch(good, [{"op": "add", "path": "/spec/env/DB_PASSWORD", "value": "hunter2"}])
	"baseline.plaintext-secret" in rules(baseline.deny) with input as {"apps": {"api": app}}
}

test_a_secret_reference_is_allowed if {
	ref := {"secretRef": {"path": "api/db", "key": "password"}}
	app := json.patch(good, [{"op": "add", "path": "/spec/env/DB_PASSWORD", "value": ref}])
	count(baseline.deny) == 0 with input as {"apps": {"api": app}}
}

test_one_replica_without_autoscale_warns if {
	app := json.patch(good, [{"op": "replace", "path": "/spec/replicas", "value": 1}])
	"baseline.single-replica" in rules(baseline.warn) with input as {"apps": {"api": app}}
}

test_a_missing_health_check_warns if {
	app := json.remove(good, ["spec/health"])
	"baseline.health-check" in rules(baseline.warn) with input as {"apps": {"api": app}}
}
