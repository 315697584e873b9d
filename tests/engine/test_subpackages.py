"""After ``import minitransformer as mt`` every public subpackage is an attribute
(``mt.optim`` as ``torch.optim``), and naming one imports it only then."""
import importlib
import os
import pkgutil
import subprocess
import sys

import pytest

import minitransformer as mt

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def public_submodules():
    """Every module and package directly inside minitransformer whose name has no leading underscore."""
    return sorted(m.name for m in pkgutil.iter_modules(mt.__path__) if not m.name.startswith("_"))


def fresh_python(code: str) -> str:
    # a fresh interpreter: this test process has imported every subpackage already
    env = dict(os.environ, PYTHONPATH=ROOT)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_every_public_subpackage_is_an_attribute():
    names = public_submodules()
    assert {"nn", "optim", "data", "training", "viz", "functional", "exercises"} <= set(names)
    for name in names:
        module = importlib.import_module(f"minitransformer.{name}")
        if name == "gradcheck":   # mt.gradcheck is the function, as torch.autograd.gradcheck
            assert mt.gradcheck is module.gradcheck
            continue
        assert getattr(mt, name) is module, name
        assert name in dir(mt)


def test_attributes_are_the_objects_students_use():
    from minitransformer.optim import Adam
    from minitransformer.optim.lr_scheduler import NoamLR
    from minitransformer.training import Trainer

    assert mt.optim.Adam is Adam
    assert mt.optim.lr_scheduler.NoamLR is NoamLR
    assert mt.training.Trainer is Trainer
    assert mt.nn.Linear(3, 2)(mt.ones(4, 3)).shape == (4, 2)


def test_an_unknown_attribute_still_raises_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'optimizers'"):
        mt.optimizers  # noqa: B018
    assert not hasattr(mt, "optimizers")


def test_import_leaves_the_heavy_subpackages_for_later():
    out = fresh_python(
        "import sys, minitransformer as mt\n"
        "heavy = ['minitransformer.optim', 'minitransformer.data', 'minitransformer.training',\n"
        "         'minitransformer.viz', 'minitransformer.cli', 'sentencepiece', 'matplotlib', 'sacrebleu', 'tqdm']\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "mt.optim.Adam\n"
        "print('minitransformer.optim' in sys.modules, 'minitransformer.training' in sys.modules)\n"
    )
    assert out.splitlines() == ["[]", "True False"]
