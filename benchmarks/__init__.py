"""The benchmark suite of issue 6: ``python -m benchmarks.run --help``."""
