"""The command line (`rxt ...`), the HTTP API, settings, and the wiring of the parts below."""
