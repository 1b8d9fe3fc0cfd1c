"""Enable the Google Cloud APIs a stack's resources need."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp


@dataclass(frozen=True)
class ApisArgs:
    project: str
    """Project to enable the services in."""
    services: tuple[str, ...]
    """Service names such as ``container.googleapis.com``."""


class Apis(pulumi.ComponentResource):
    """Project services, enabled once and left enabled on destroy.

    `disable_on_destroy=False` because other stacks or people may use the same API in the project;
    disabling it on `pulumi destroy` would break them.
    """

    services: dict[str, gcp.projects.Service]

    def __init__(self, name: str, args: ApisArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:gcp:Apis", name, None, opts)
        self.services = {
            service: gcp.projects.Service(
                f"{name}-{service.split('.')[0]}",
                project=args.project,
                service=service,
                disable_on_destroy=False,
                disable_dependent_services=False,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for service in args.services
        }
        self.register_outputs({"services": [s.service for s in self.services.values()]})

    @property
    def resources(self) -> list[pulumi.Resource]:
        """The service resources, for `depends_on` of resources that call these APIs."""
        return list(self.services.values())
