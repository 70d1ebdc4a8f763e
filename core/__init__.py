"""The shared vocabulary at the bottom of RXT Deploy: errors, resource references, hashing."""
