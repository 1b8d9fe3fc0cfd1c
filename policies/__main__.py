"""Entry point the Pulumi CLI runs for `pulumi preview --policy-pack policies`.

Pulumi's policy host runs this folder with `runpy`, the folder itself first on `sys.path`; the
`policies`, `cost` and `facts` packages it imports come from the pack's virtualenv, installed by
`requirements.txt` (this repository, or the copies `mlp policy bundle` puts beside this file).

It only builds the pack: `PolicyPack(...)` starts the analyzer's gRPC server and never returns,
so the policies live in importable modules (`policies.security`, `.workloads`, `.reliability`,
`.gpu_cost`) that tests and `mlp policy check` use directly.
"""

from pulumi_policy import EnforcementLevel, PolicyPack

from policies.pack import PACK_DESCRIPTION, PACK_NAME, all_policies

if __name__ == "__main__":
    PolicyPack(name=PACK_NAME, policies=all_policies(), description=PACK_DESCRIPTION,
               enforcement_level=EnforcementLevel.ADVISORY)
