"""Local stand-ins for the platform APIs (vSphere, NSX, Kubernetes, GitHub) for tests and demo."""
