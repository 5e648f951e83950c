"""Benchmarks for the chat (issue 6): one command, ``make bench`` or ``python -m bench``.

Not part of the pytest suite: nothing here asserts a time. The suite runs the
production serve command (uvicorn with several workers, PostgreSQL) under wrk,
compares it with a baseline measured in the same run, and writes ``BENCHMARKS.md``.
"""
