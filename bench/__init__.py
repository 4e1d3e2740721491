"""Throughput benchmarks of Lexica, reported as ratios against a bare ASGI app measured in the same run."""
