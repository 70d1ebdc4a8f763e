# Baseline: what every application should meet, whatever its compliance regime.
package rxt.baseline

import rego.v1

# Rules run for every app of every plan; each is written with the regorus built-ins that cost
# least (endswith, contains, one regex.match), not helper functions, negated partial sets or
# loops over word lists, which were measured to cost it tens of microseconds an app.
# An image has a tag when a ":" follows its last "/" (":5000/" is a registry port).

deny contains result if {
	some name, app in input.apps
	not app.spec.resources.cpu
	result := {"rule": "baseline.resource-limits", "app": name, "msg": sprintf("app '%s' sets no resources.cpu; set a CPU request so it can be sized and billed", [name])}
}

deny contains result if {
	some name, app in input.apps
	not app.spec.resources.memory
	result := {"rule": "baseline.resource-limits", "app": name, "msg": sprintf("app '%s' sets no resources.memory; set a memory request", [name])}
}

deny contains result if {
	some name, app in input.apps
	not contains(app.spec.image, "@")
	not regex.match(`:[^/]*$`, app.spec.image)
	result := {"rule": "baseline.image-tag", "app": name, "msg": sprintf("app '%s': image %s has no tag; pin a version or a digest", [name, app.spec.image])}
}

deny contains result if {
	some name, app in input.apps
	endswith(app.spec.image, ":latest")
	result := {"rule": "baseline.image-tag", "app": name, "msg": sprintf("app '%s': image %s uses the tag latest; pin a version or a digest", [name, app.spec.image])}
}

deny contains result if {
	some name, app in input.apps
	app.spec.expose
	not app.spec.expose.tls
	result := {"rule": "baseline.tls", "app": name, "msg": sprintf("app '%s' is exposed at %s without TLS; set expose.tls: true", [name, app.spec.expose.host])}
}

deny contains result if {
	some name, app in input.apps
	some rule in app.spec.network.egress
	startswith(rule, "0.0.0.0/0")
	result := {"rule": "baseline.egress-any", "app": name, "msg": sprintf("app '%s' allows egress to anywhere (%s); name the networks it needs", [name, rule])}
}

deny contains result if {
	some name, app in input.apps
	some variable, value in app.spec.env
	is_string(value)
	regex.match(`(?i)(passw|secret|token|api_?key|private_?key)`, variable)
	result := {"rule": "baseline.plaintext-secret", "app": name, "msg": sprintf("app '%s': env %s looks like a secret but is a literal; use secretRef", [name, variable])}
}

warn contains result if {
	some name, app in input.apps
	not contains(app.spec.image, "@")
	regex.match(`:[^/]*$`, app.spec.image)
	not endswith(app.spec.image, ":latest")
	result := {"rule": "baseline.image-digest", "app": name, "msg": sprintf("app '%s': image is pinned by tag, not digest; a digest (@sha256:...) cannot move", [name])}
}

warn contains result if {
	some name, app in input.apps
	object.get(app.spec, "replicas", 1) == 1
	not app.spec.autoscale
	result := {"rule": "baseline.single-replica", "app": name, "msg": sprintf("app '%s' runs one replica without autoscale; an outage takes it down", [name])}
}

warn contains result if {
	some name, app in input.apps
	not app.spec.health
	result := {"rule": "baseline.health-check", "app": name, "msg": sprintf("app '%s' declares no health check; rollouts cannot wait for readiness", [name])}
}
