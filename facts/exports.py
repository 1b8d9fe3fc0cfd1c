"""Stack output names, shared by the program, the preview and the tests."""

PROJECT = "project"
REGION = "region"
FLAVOR = "flavor"
CLUSTER_NAME = "clusterName"
CLUSTER_ENDPOINT = "clusterEndpoint"
KUBECONFIG = "kubeconfig"
REGISTRY_URL = "registryUrl"
NODE_SERVICE_ACCOUNT = "nodeServiceAccount"
KUBEFLOW_VERSIONS = "kubeflowVersions"
ENDPOINT_ID = "vertexEndpointId"
TENSORBOARD = "vertexTensorboard"
PERSISTENT_RESOURCE = "vertexPersistentResource"
"""Exported only by stacks that declare one."""


def bucket(role: str) -> str:
    """Output name of a bucket, e.g. ``datasetsBucket`` or ``pipelineRootBucket``."""
    head, *rest = role.split("-")
    return head + "".join(p.title() for p in rest) + "Bucket"


def workload_service_account(workload: str) -> str:
    """Output name of a workload's service account email, e.g. ``trainingServiceAccount``."""
    return f"{workload}ServiceAccount"
