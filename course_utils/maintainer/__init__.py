"""Maintainer tools, never imported by a notebook: the benchmark
(``python -m course_utils.maintainer.bench``)."""
