"""The gateway serves predictions with onnxruntime and leaves proving to provers: loading any of
its modules must not load ezkl, whose native library a gateway image need not carry."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap


def test_no_gateway_module_loads_ezkl() -> None:
    # A fresh interpreter: this test process may have loaded ezkl for other tests already.
    script = textwrap.dedent(
        """
        import importlib, json, pkgutil, sys
        import zkgate.gateway
        names = [m.name for m in pkgutil.walk_packages(zkgate.gateway.__path__, "zkgate.gateway.")]
        for name in names:
            importlib.import_module(name)
        print(json.dumps({"modules": len(names), "ezkl": "ezkl" in sys.modules}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["modules"] > 20
    assert report["ezkl"] is False
