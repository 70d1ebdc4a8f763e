"""Platform drivers behind one small protocol: vSphere, NSX, Kubernetes and Vault."""
