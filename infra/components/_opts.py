"""Resource options shared by the components."""

from __future__ import annotations

import pulumi


def child_opts(parent: pulumi.Resource, opts: pulumi.ResourceOptions | None,
               **extra: object) -> pulumi.ResourceOptions:
    """Options for a component's children: parented, and waiting on what the component waits on.

    The engine orders resources by each resource's own dependencies; a `depends_on` given to a
    component is not inherited by its children, so it is passed down here explicitly.
    """
    return pulumi.ResourceOptions(parent=parent, depends_on=opts.depends_on if opts else None,
                                  **extra)
