"""A Pulumi program that declares what the policy pack must refuse, with typed Args.

Run under `infra.preview.run_preview(stack_file, program=<this file>)`; never deployed.
"""

import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

bucket = gcp.storage.Bucket(
    "public-data", name="insecure-public-data", location="US",
    uniform_bucket_level_access=False, public_access_prevention="inherited")
gcp.storage.BucketIAMMember(
    "public-read", bucket="insecure-public-data", role="roles/storage.objectViewer",
    member="allUsers")

cluster = gcp.container.Cluster(
    "open-cluster", name="open", location="us-central1-c", initial_node_count=1,
    master_authorized_networks_config=gcp.container.ClusterMasterAuthorizedNetworksConfigArgs(
        cidr_blocks=[gcp.container.ClusterMasterAuthorizedNetworksConfigCidrBlockArgs(
            cidr_block="0.0.0.0/0", display_name="anywhere")]),
    deletion_protection=False)

gcp.container.NodePool(
    "gpu-fixed", cluster="open", location="us-central1-c", node_count=2,
    node_config=gcp.container.NodePoolNodeConfigArgs(
        machine_type="n1-standard-8",
        oauth_scopes=["https://www.googleapis.com/auth/cloud-platform"],
        guest_accelerators=[gcp.container.NodePoolNodeConfigGuestAcceleratorArgs(
            type="nvidia-tesla-t4", count=1)]))

k8s.apiextensions.CustomResource(
    "privileged-tfjob", api_version="kubeflow.org/v1", kind="TFJob",
    metadata=k8s.meta.v1.ObjectMetaArgs(name="mnist", namespace="default"),
    spec={"tfReplicaSpecs": {"Worker": {"replicas": 1, "template": {"spec": {
        "containers": [{"name": "tensorflow", "image": "tensorflow/tensorflow:latest-gpu",
                        "securityContext": {"privileged": True},
                        "resources": {"limits": {"nvidia.com/gpu": 1}}}]}}}}})
