"""The Kubernetes driver (server-side apply). Not built yet."""
