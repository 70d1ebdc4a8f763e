"""Wiring: the engine's configuration file and the engine that runs workers, schedule and relay."""
