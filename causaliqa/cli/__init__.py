"""The ``causaliqa`` command line. Command bodies are a few lines; the library returns result objects and
``causaliqa.cli.present`` turns them into text."""

from causaliqa.cli import experiment, graph, prior, scoring  # noqa: F401  (each module registers its commands)
from causaliqa.cli.app import app, main

__all__ = ["app", "main"]
