"""Benchmarks: inference backends (``runtimes``), and the sections ``stdc-ros bench`` prints (``cli``)."""
