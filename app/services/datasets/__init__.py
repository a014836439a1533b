"""Datasets: the catalog of uploaded ones, uploads and the archive rules they pass."""
