"""Test support stays off the runtime import path, and the op registry does not depend on import order.

``minitransformer.testing`` (the op registry, its specs, the Hypothesis
strategies) is for tests, the ``gradcheck`` command and the exercise grader:
importing the engine must load none of it, nor Hypothesis or pytest.  Each
check runs in a fresh interpreter, since this test process has imported
everything already.
"""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Python code that makes ``import hypothesis`` fail, as where it is not installed
NO_HYPOTHESIS = "import sys\nsys.modules['hypothesis'] = None\n"


def fresh_python(code: str) -> str:
    env = dict(os.environ, PYTHONPATH=ROOT)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                            cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_engine_imports_no_test_support():
    out = fresh_python(
        "import json, sys\n"
        "import minitransformer, minitransformer.nn, minitransformer.functional, minitransformer.optim, "
        "minitransformer.training\n"
        "loaded = [m for m in sys.modules if m == 'minitransformer.testing'\n"
        "          or m.startswith('minitransformer.testing.') or m.split('.')[0] in ('hypothesis', 'pytest')]\n"
        "print(json.dumps(sorted(loaded)))\n"
    )
    assert json.loads(out) == []


ALL_SPEC_NAMES = (
    "from minitransformer.testing import all_specs\n"
    "print(json.dumps([spec.name for spec in all_specs()]))\n"
)


@pytest.mark.parametrize("first", [
    "",                                        # the testing package alone
    "import minitransformer.exercises\n",      # the grader and the exercises' Functions first
    "import minitransformer.functional.fused_attention, minitransformer.functional, minitransformer.nn\n",
    "import minitransformer.testing.specs.exercises\n",
    "from minitransformer.cli import gradcheck\ngradcheck.select_specs(['Mul'])\n",
])
def test_all_specs_is_the_same_whatever_was_imported_before(first):
    alone = json.loads(fresh_python("import json\n" + ALL_SPEC_NAMES))
    assert {"Mul", "MatMul", "Softmax", "ScaledDotProductAttention", "FusedAttention"} <= set(alone)
    assert len(alone) == len(set(alone))
    assert json.loads(fresh_python("import json\n" + first + ALL_SPEC_NAMES)) == alone


def test_the_registry_and_the_grader_work_without_hypothesis():
    out = fresh_python(
        NO_HYPOTHESIS +
        "import minitransformer.testing as testing\n"
        "from minitransformer.exercises import check_exercises\n"
        "print(len(testing.all_specs()) > 40)\n"
        "print([r.status for r in check_exercises(exercises=[3, 11], examples=3)])\n"
        "try:\n"
        "    from minitransformer.testing import tensors\n"
        "except ImportError:\n"
        "    print('strategies need hypothesis')\n"
        "print('minitransformer.testing.strategies' in sys.modules)\n"
    )
    assert out.splitlines() == ["True", "['pass', 'pass']", "strategies need hypothesis", "False"]
