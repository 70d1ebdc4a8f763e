"""Speed and reliability benchmarks of BENCHMARKS.md; ``make bench`` runs them all."""
