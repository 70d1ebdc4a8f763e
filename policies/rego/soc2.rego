# SOC 2: ownership, change control and availability evidence for every app of the environment.
package rxt.soc2

import rego.v1

deny contains result if {
	some name, app in input.apps
	not app.metadata.labels.team
	result := {"rule": "soc2.owner-label", "app": name, "msg": sprintf("app '%s' has no metadata.labels.team; every system needs an accountable owner", [name])}
}

deny contains result if {
	input.environment.sync.prune
	some kind in ["vm", "volume"]
	not kind in input.environment.sync.confirmPrune
	result := {"rule": "soc2.confirm-prune", "msg": sprintf("prune is on but %s is not in sync.confirmPrune; deleting it must need an approval", [kind])}
}

warn contains result if {
	some name, app in input.apps
	not app.spec.health
	result := {"rule": "soc2.health-check", "app": name, "msg": sprintf("app '%s' has no health check; availability cannot be evidenced", [name])}
}

warn contains result if {
	some change in input.changes
	change.action == "delete"
	result := {"rule": "soc2.deletion", "app": change.app, "msg": sprintf("%s %s/%s will be deleted; the audit record keeps what it was", [change.platform, change.kind, change.name])}
}
