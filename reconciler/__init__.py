"""The controller: Git sources, webhooks, the work queue, apply, previews, drift. Not built yet."""
