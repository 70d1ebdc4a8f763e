# HIPAA: apps that handle protected health information (placement.compliance contains hipaa).
package rxt.hipaa

import rego.v1

in_scope contains name if {
	some name, app in input.apps
	"hipaa" in object.get(app.spec, ["placement", "compliance"], [])
}

deny contains result if {
	some name in in_scope
	input.placements[name].target != "vm"
	result := {"rule": "hipaa.dedicated-vm", "app": name, "msg": sprintf("app '%s' handles health data but is placed on %s; it must run on a dedicated VM", [name, input.placements[name].target])}
}

deny contains result if {
	some name in in_scope
	not input.environment.sites.nsx
	result := {"rule": "hipaa.segmentation", "app": name, "msg": sprintf("app '%s' handles health data but the environment has no NSX site to segment it", [name])}
}

deny contains result if {
	some name in in_scope
	app := input.apps[name]
	app.spec.expose
	not app.spec.expose.tls
	result := {"rule": "hipaa.tls", "app": name, "msg": sprintf("app '%s' handles health data and is exposed without TLS", [name])}
}

deny contains result if {
	some name in in_scope
	some variable, value in object.get(input.apps[name].spec, "env", {})
	is_string(value)
	regex.match(`(?i)(passw|secret|token|key)`, variable)
	result := {"rule": "hipaa.secret-references", "app": name, "msg": sprintf("app '%s': env %s must come from Vault (secretRef)", [name, variable])}
}

# Encryption at rest is a property of the datastore, which RXT Deploy cannot see.
warn contains result if {
	some name in in_scope
	count(object.get(input.apps[name].spec, "volumes", [])) > 0
	result := {"rule": "hipaa.encryption-at-rest", "app": name, "msg": sprintf("app '%s' keeps data on volumes; confirm the datastore encrypts at rest", [name])}
}
