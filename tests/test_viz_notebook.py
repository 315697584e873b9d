"""minitransformer.viz.notebook: the tutorials' setup cell (FAST, output folder, seed, save)."""
import sys
import types

import numpy as np
import pytest

import minitransformer as mt
from minitransformer.viz.notebook import FAST_ENV, OUT_ENV, Tutorial, pyplot, setup_tutorial

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def clean_env(monkeypatch):
    monkeypatch.delenv(FAST_ENV, raising=False)
    monkeypatch.delenv(OUT_ENV, raising=False)


def test_defaults_write_next_to_the_tutorial_and_are_not_fast(clean_env, tmp_path):
    tutorial = setup_tutorial("04_attention", here=tmp_path)
    assert isinstance(tutorial, Tutorial)
    assert tutorial.name == "04_attention" and tutorial.fast is False
    assert tutorial.out == tmp_path / "_output" / "04_attention" and tutorial.out.is_dir()


def test_without_here_the_working_directory_is_the_tutorials_folder(clean_env, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert setup_tutorial("01_autograd").out == tmp_path / "_output" / "01_autograd"


def test_the_environment_sets_fast_and_the_output_folder(monkeypatch, tmp_path):
    monkeypatch.setenv(FAST_ENV, "1")
    monkeypatch.setenv(OUT_ENV, str(tmp_path / "ci"))
    tutorial = setup_tutorial("09_translation", here=tmp_path / "elsewhere")
    assert tutorial.fast is True
    assert tutorial.out == tmp_path / "ci" / "09_translation" and tutorial.out.is_dir()
    assert not (tmp_path / "elsewhere").exists()
    monkeypatch.setenv(FAST_ENV, "0")                      # only "1" switches it on
    assert setup_tutorial("09_translation", here=tmp_path).fast is False


def test_it_seeds_the_engine(clean_env, tmp_path):
    mt.manual_seed(123)
    mt.randn(5)                                           # move the generator along
    setup_tutorial("x", here=tmp_path, seed=7)
    after_setup = mt.randn(5).numpy()
    mt.manual_seed(7)
    np.testing.assert_array_equal(after_setup, mt.randn(5).numpy())


@pytest.mark.parametrize("name", ["", "a/b", None])
def test_a_name_that_is_not_a_folder_name_is_refused(clean_env, tmp_path, name):
    with pytest.raises(ValueError, match="setup_tutorial: name must be a folder name"):
        setup_tutorial(name, here=tmp_path)


def test_save_writes_a_png_and_closes_the_figure(clean_env, tmp_path):
    pytest.importorskip("matplotlib")
    plt = pyplot()
    tutorial = setup_tutorial("t", here=tmp_path)
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    path = tutorial.save(fig, "line")
    assert path == tutorial.out / "line.png"
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert fig.number not in plt.get_fignums()


def test_in_jupyter_save_shows_the_png_inline(clean_env, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    plt = pyplot()
    fig, _ = plt.subplots(figsize=(2, 2))
    tutorial = setup_tutorial("t", here=tmp_path)
    shown = []                                             # a stand-in for IPython.display
    display_module = types.ModuleType("IPython.display")
    display_module.Image = lambda filename: ("Image", filename)
    display_module.display = shown.append
    ipython = types.ModuleType("IPython")
    ipython.display = display_module
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", display_module)
    tutorial.show(tmp_path / "nothing.png")                # outside Jupyter: nothing displayed
    assert shown == []
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    path = tutorial.save(fig, "inline")
    assert shown == [("Image", str(path))] and path.exists()
