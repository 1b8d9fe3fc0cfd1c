"""A Cloud KMS key that encrypts the cluster's Kubernetes Secrets at the application layer."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.components._opts import child_opts
from infra.components._project import project_number

ROTATION_PERIOD = f"{90 * 86400}s"


@dataclass(frozen=True)
class SecretsKeyArgs:
    project: str
    region: str
    key_ring_name: str


class SecretsKey(pulumi.ComponentResource):
    """A key ring and an encryption key, usable by GKE's service agent only.

    GKE encrypts Secrets in etcd with this key (envelope encryption). Key rings cannot be deleted
    in Cloud KMS, and a destroyed key makes every Secret it encrypted unreadable, so both are
    protected: `pulumi destroy` stops before them.
    """

    key: gcp.kms.CryptoKey
    grant: gcp.kms.CryptoKeyIAMMember

    def __init__(self, name: str, args: SecretsKeyArgs,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-platform:gcp:SecretsKey", name, None, opts)
        protected = child_opts(self, opts, protect=True)
        ring = gcp.kms.KeyRing(f"{name}-ring", project=args.project, location=args.region,
                               name=args.key_ring_name, opts=protected)
        self.key = gcp.kms.CryptoKey(
            f"{name}-key",
            name="gke-secrets",
            key_ring=ring.id,
            purpose="ENCRYPT_DECRYPT",
            rotation_period=ROTATION_PERIOD,
            opts=protected,
        )
        agent = project_number(args.project).apply(
            lambda n: f"serviceAccount:service-{n}@container-engine-robot.iam.gserviceaccount.com")
        self.grant = gcp.kms.CryptoKeyIAMMember(
            f"{name}-gke-agent",
            crypto_key_id=self.key.id,
            role="roles/cloudkms.cryptoKeyEncrypterDecrypter",
            member=agent,
            opts=child_opts(self, opts),
        )
        self.register_outputs({"key": self.key.id})
