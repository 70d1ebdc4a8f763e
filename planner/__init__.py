"""Pure planning logic: manifests, placement, rendering, diffing, policy and the plan."""
