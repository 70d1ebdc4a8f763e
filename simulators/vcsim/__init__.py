"""govmomi's vCenter simulator, built from Debian's packages and run on loopback (``launcher``)."""
