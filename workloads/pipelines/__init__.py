"""The CIFAR-10 life cycle as one kfp v2 pipeline for Kubeflow Pipelines, Vertex AI and kfp.local.

Modules: `settings` (defaults from `defaults.yaml`), `steps` and `deploy` (the work, plain
Python), `components` (kfp wrappers), `pipeline` (the DAG and compile hook), `submit` (local runs,
submission and schedules), `cli` (`mlp pipeline`).
"""
