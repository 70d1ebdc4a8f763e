"""The controller. Built so far: Git sources (mirrors, safe tree reads, polling) and webhook
intake. Not built yet: the work queue wiring, reconcile and apply, previews, drift reports."""
