"""Entry point the Pulumi CLI runs for `pulumi preview --policy-pack policies`.

It only builds the pack: `PolicyPack(...)` starts the analyzer's gRPC server and never returns,
so the policies live in importable modules (`policies.security`, `.workloads`, `.reliability`,
`.gpu_cost`) that tests and `mlp policy check` use directly.
"""

import sys
from pathlib import Path

# Pulumi runs this file from inside policies/; make `import policies.…` resolve from the repo root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack

from policies.pack import PACK_DESCRIPTION, PACK_NAME, all_policies

if __name__ == "__main__":
    PolicyPack(name=PACK_NAME, policies=all_policies(), description=PACK_DESCRIPTION,
               enforcement_level=EnforcementLevel.ADVISORY)
