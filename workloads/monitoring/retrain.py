"""Closing the loop: launch the training pipeline when the monitoring check finds drift.

The monitoring pipeline's `retrain` step calls one of these with the client of its platform:
`kfp.Client` in the cluster (the Pipelines API service, no port-forward), or
`aiplatform.PipelineJob` on Vertex AI. Each compiles the training pipeline for its target with
the images the monitoring run itself uses, and submits one run, labelled as triggered by drift.
Clients come in as arguments, so tests pass fakes and read what would be sent.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

IN_CLUSTER_KFP_HOST = "http://ml-pipeline.kubeflow.svc.cluster.local:8888"
"""The Kubeflow Pipelines API server's Service, as seen from a pipeline pod."""
RUN_PREFIX = "cifar10-retrain-on-drift"


def _compiled(target: str, registry: str | None, tag: str | None) -> Path:
    from workloads.pipelines.pipeline import compile_pipeline

    out = Path(tempfile.mkdtemp(prefix="cifar10-retrain-")) / f"cifar10-{target}.yaml"
    return compile_pipeline(target, out, registry or None, tag or None)  # type: ignore[arg-type]


def retrain_kubeflow(client: Any, registry: str, tag: str,
                     arguments: Mapping[str, Any] | None = None) -> str:
    """Start one run of the training pipeline on Kubeflow Pipelines; returns its run id."""
    from workloads.pipelines.submit import submit_kubeflow

    package = _compiled("kubeflow", registry, tag)
    run = submit_kubeflow(package, dict(arguments or {}), client,
                          run_name=f"{RUN_PREFIX}-{time.strftime('%Y%m%d-%H%M%S')}")
    return str(run.run_id)


def retrain_vertex(job_factory: Callable[..., Any], outputs: Mapping[str, Any], tag: str,
                   arguments: Mapping[str, Any] | None = None) -> str:
    """Submit one training PipelineJob on Vertex AI from the stack outputs; returns its name."""
    from workloads.pipelines.submit import submit_vertex, vertex_job, vertex_run_config

    config = vertex_run_config(outputs)
    package = _compiled("vertex", config["registry"], tag)
    job = vertex_job(package, config, dict(arguments or {}), job_factory,
                     labels={"app": "cifar10", "managed-by": "ml-platform",
                             "trigger": "drift"})
    submit_vertex(job, config["service_account"])
    return str(job.resource_name)
