"""The vSphere driver (pyvmomi). Not built yet."""
