"""tsunagi.policy loads its evaluator on the first use of one of its names, and then gives the same
objects as before (the function ``evaluate``, not the submodule of that name)."""

from __future__ import annotations

import subprocess
import sys

_CHECK = """
import sys
import tsunagi.policy as policy
from tsunagi.policy import Dialect, PolicyError
assert "tsunagi.policy.document" not in sys.modules, sorted(sys.modules)
from tsunagi.policy import Decision
from tsunagi.policy.evaluate import evaluate
from tsunagi.policy.document import compile_policy
assert policy.evaluate is evaluate, policy.evaluate
assert policy.compile_policy is compile_policy
for name in policy.__all__:
    assert getattr(policy, name) is not None, name
try:
    policy.no_such_name
except AttributeError:
    pass
else:
    raise AssertionError("no AttributeError")
"""


def test_the_evaluator_loads_on_first_use_and_its_names_are_the_same() -> None:
    proc = subprocess.run([sys.executable, "-c", _CHECK], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
