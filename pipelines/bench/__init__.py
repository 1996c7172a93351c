"""The benchmark suite behind `orders-pipeline bench` (docs/benchmarks.md)."""
