"""Training runs are launched with a stack's values, not declared by it; the pack still sees them.

The stacks no longer declare a TFJob or a Katib Experiment, so their previews carry no training
pod. These tests render the training chart with each stack's `mlp chart values` and run the
pack's resource policies over the objects `helm install` would create, at the stack's levels.
"""

from __future__ import annotations

import pytest

from facts.preview import Preview, PreviewResource
from facts.stacks import stack_path
from infra.charts import CHARTS_DIR, object_name, pulumi_type, render
from infra.components.cifar10 import launch_values
from infra.stack_config import read_stack_file
from policies.pack import all_policies
from policies.runner import MlpResourcePolicy, config_for_stack, evaluate


def launched(stack: str, search_space: str | None) -> Preview:
    """The objects of a run launched on `stack`, a plain TFJob or (with a space) a Katib search."""
    cfg = read_stack_file(stack_path(stack)).platform()
    training = cfg.workloads.training.model_copy(update={"search_space": search_space})
    cfg = cfg.model_copy(update={"workloads": cfg.workloads.model_copy(
        update={"training": training})})
    objects = render(CHARTS_DIR / "cifar10-training", launch_values(cfg, stack),
                     release="cifar10", namespace="ml-training")
    resources = []
    for obj in objects:
        name = object_name("cifar10-training", obj)
        resources.append(PreviewResource(
            urn=f"urn:pulumi:{stack}::ml-platform::{pulumi_type(obj)}::{name}",
            type=pulumi_type(obj), name=name, parent=None, inputs=obj, depends_on=[],
            protect=False, custom=True))
    return Preview(stack, "ml-platform", resources, {})


RESOURCE_POLICIES = [p for p in all_policies() if isinstance(p, MlpResourcePolicy)]


@pytest.mark.parametrize("stack", ["dev", "prod"])
@pytest.mark.parametrize("search_space", [None, "katib-study"])
def test_launched_training_passes_the_stacks_pack(stack, search_space):
    preview = launched(stack, search_space)
    kinds = {r.type.rsplit(":", 1)[-1] for r in preview.resources}
    assert kinds == ({"Experiment"} if search_space else {"TFJob"})
    report = evaluate(preview, config_for_stack(stack), RESOURCE_POLICIES)
    assert report.checks > 0
    assert [(v.policy, v.message) for v in report.mandatory] == []
