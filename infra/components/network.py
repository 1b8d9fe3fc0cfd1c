"""The VPC a private GKE cluster needs: a subnet with pod and service ranges, and Cloud NAT."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.components._opts import child_opts

PODS_RANGE = "pods"
SERVICES_RANGE = "services"


@dataclass(frozen=True)
class NetworkArgs:
    project: str
    region: str
    subnet_cidr: str
    """Primary range: node addresses."""
    pods_cidr: str
    """Secondary range for pod IPs (VPC-native alias IPs)."""
    services_cidr: str
    """Secondary range for ClusterIP services."""


class Network(pulumi.ComponentResource):
    """A custom-mode VPC with one regional subnet and NAT for private nodes.

    Private nodes have no external IPs, so they reach container registries and the Google APIs
    through Cloud NAT and Private Google Access.
    """

    network: gcp.compute.Network
    subnet: gcp.compute.Subnetwork
    router: gcp.compute.Router
    nat: gcp.compute.RouterNat

    def __init__(self, name: str, args: NetworkArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:gcp:Network", name, None, opts)
        child = child_opts(self, opts)
        self.network = gcp.compute.Network(
            f"{name}-vpc",
            project=args.project,
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
            opts=child,
        )
        self.subnet = gcp.compute.Subnetwork(
            f"{name}-subnet",
            project=args.project,
            region=args.region,
            network=self.network.id,
            ip_cidr_range=args.subnet_cidr,
            private_ip_google_access=True,
            secondary_ip_ranges=[
                gcp.compute.SubnetworkSecondaryIpRangeArgs(
                    range_name=PODS_RANGE, ip_cidr_range=args.pods_cidr),
                gcp.compute.SubnetworkSecondaryIpRangeArgs(
                    range_name=SERVICES_RANGE, ip_cidr_range=args.services_cidr),
            ],
            log_config=gcp.compute.SubnetworkLogConfigArgs(
                aggregation_interval="INTERVAL_10_MIN", flow_sampling=0.5,
                metadata="INCLUDE_ALL_METADATA"),
            opts=child,
        )
        self.router = gcp.compute.Router(
            f"{name}-router", project=args.project, region=args.region,
            network=self.network.id, opts=child,
        )
        self.nat = gcp.compute.RouterNat(
            f"{name}-nat",
            project=args.project,
            region=args.region,
            router=self.router.name,
            nat_ip_allocate_option="AUTO_ONLY",
            source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
            log_config=gcp.compute.RouterNatLogConfigArgs(enable=True, filter="ERRORS_ONLY"),
            opts=child,
        )
        self.register_outputs({
            "network": self.network.id,
            "subnet": self.subnet.id,
            "nat": self.nat.name,
        })
