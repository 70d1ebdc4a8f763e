"""The controller: Git sources and webhook intake, the reconcile loop (plan, apply under a
lease, record), workers, drift checks and their schedule, notifications and the outbox relay."""
