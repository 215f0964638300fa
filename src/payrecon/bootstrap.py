"""The composition root: the process's container (settings, engine) and the pipeline port wired
to Celery. Entrypoints (the API, the CLI, the demo) get everything from here."""

from __future__ import annotations

from payrecon.container import (
    Container,
    build_container,
    get_container,
    install_container,
    provider_credentials,
)
from payrecon.services.pipeline import Pipeline

__all__ = [
    "Container",
    "build_container",
    "get_container",
    "install_container",
    "pipeline",
    "provider_credentials",
]


def pipeline(container: Container | None = None) -> Pipeline:
    """The pipeline port, wired to Celery: queues on the configured broker, or in-process with
    `memory://`, where the tasks then run with `container` (or the process's own)."""
    from payrecon.worker.dispatch import CeleryPipeline  # the worker loads its Celery app

    chosen = container or get_container()
    if chosen.settings.in_process_worker:
        install_container(chosen)
    return CeleryPipeline(chosen)
