"""Run a policy pack folder as Pulumi's policy host does, and say what it built and loaded.

`python -m pulumi.policy ENGINE PACK` (pulumi/policy/__main__.py) runs in the pack folder and
calls `runpy.run_path(PACK, run_name="__main__")`; here `PolicyPack`, which would start the
analyzer's gRPC server, records what it was given instead. Then the pack's own runner checks a
saved preview, so the imports its policies make while checking (COST-10's pricing) happen too.

Usage: python host.py PACK PREVIEW_JSON [SITE_PACKAGES]. Run under `python -S` with a
site-packages folder, that folder is added without its `.pth` files, so an editable install of
this repository is not visible: only the pack folder and installed distributions are.
"""

import json
import runpy
import sys

if len(sys.argv) > 3:
    sys.path.append(sys.argv[3])

import pulumi_policy

built: dict = {}


class RecordingPack:
    def __init__(self, name, policies, description=None, enforcement_level=None, **_):
        built.update(name=name, policies=[p.name for p in policies])


pulumi_policy.PolicyPack = RecordingPack
pack, preview_path = sys.argv[1], sys.argv[2]
path_before = list(sys.path)
runpy.run_path(pack, run_name="__main__")
path_after = list(sys.path)

from facts.preview import load_preview  # noqa: E402
from policies.runner import evaluate, resolve_config  # noqa: E402

report = evaluate(load_preview(preview_path), resolve_config({}, "pack defaults")).to_json()
files = {name: getattr(module, "__file__", None) for name, module in list(sys.modules.items())}
json.dumps(report)
print(json.dumps({"built": built, "path_changed": path_before != path_after,
                  "report": report, "files": files}))
