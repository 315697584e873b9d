"""`make_exercises`: the student files hold the reference classes, solutions blanked out.

The decisive test fills every stub back with its reference solution and
grades the folder: it passes only if the generated imports are complete and
the marked regions are exactly the solutions.
"""
import ast
import importlib
import inspect
import re

import pytest

from minitransformer.exercises import (
    EXERCISES, check_exercises, make_exercises, replace_stub, solution_source, stub_source,
)
from minitransformer.exercises.stubs import BEGIN, END


@pytest.fixture(scope="module")
def handout(tmp_path_factory):
    out = tmp_path_factory.mktemp("handout")
    make_exercises(out)
    return out


def test_numbering_is_one_to_n_with_unique_files():
    assert [ex.number for ex in EXERCISES] == list(range(1, len(EXERCISES) + 1))
    assert len(EXERCISES) == 12
    assert len({ex.filename for ex in EXERCISES}) == len(EXERCISES)
    assert EXERCISES[2].filename == "exercise_03_matmul.py"


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda ex: ex.slug)
def test_every_reference_class_has_one_marked_backward(exercise):
    for ref in exercise.functions:
        source = inspect.getsource(ref.load())
        assert source.count(BEGIN) == 1 and source.count(END) == 1, ref.name
        backward = source[source.index("def backward"):]
        docstring_end = backward.index('"""', backward.index('"""') + 3)
        assert docstring_end < backward.index(BEGIN), f"{ref.name}: the markers belong after the docstring"
        assert "return" in solution_source(ref.load())


def test_make_writes_one_module_per_exercise_and_a_readme(handout):
    names = sorted(p.name for p in handout.iterdir())
    assert names == sorted([ex.filename for ex in EXERCISES] + ["README.md"])
    readme = (handout / "README.md").read_text()
    for ex in EXERCISES:
        assert ex.filename in readme and ex.title in readme
    assert "minitransformer exercises check . --exercise 3" in readme


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda ex: ex.slug)
def test_stubs_keep_the_forward_and_drop_the_solution(handout, exercise):
    text = (handout / exercise.filename).read_text()
    tree = ast.parse(text)  # valid Python
    classes = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
    assert classes == list(exercise.class_names)
    assert len(re.findall(r"^ +raise NotImplementedError\($", text, re.M)) == len(exercise.functions)
    assert f"Exercise {exercise.number}: {exercise.title}. Write it" in " ".join(
        line.strip().strip("'\"") for line in text.splitlines())
    # no hint up front: the grader gives it after a failed attempt
    assert "Hint:" not in text and exercise.hint not in " ".join(text.split())
    assert BEGIN not in text and END not in text
    assert "backward_graph" not in text  # the Tensor version of the derivative would give it away
    for ref in exercise.functions:
        cls = ref.load()
        # the solution's lines are gone (a line may legitimately repeat a forward line)
        forward = inspect.getsource(cls.forward)
        hidden = [line.strip() for line in solution_source(cls).splitlines()
                  if line.strip() and line.strip() not in forward]
        assert hidden and not any(line in text for line in hidden if len(line) > 25), ref.name
        assert "def forward" in stub_source(cls, exercise)
    assert "from minitransformer import Function" in text


def _answer_fragments(docstring: str) -> list:
    """The right-hand sides of the equations of a reference ``backward`` docstring (its answer).

    The text after each '=', up to the next '=' and cut at a clause break (a comma,
    a colon, a sentence's end, a line break, a run of spaces or a joining word);
    a single symbol, a gradient's bare name (dL/dO) or a parameter's value
    (reduction='mean', keepdims=False) is no formula.
    """
    fragments = []
    for part in docstring.split("=")[1:]:
        part = re.split(r"[,;:]|\.(?:\s|$)|\n|\s{2,}| and | per | the | with | so | where ", part)[0]
        part = " ".join(part.split()).rstrip(".")
        if len(part) >= 3 and not re.fullmatch(r"dL/d\w+|'\w+'|True|False|None", part):
            fragments.append(part)
    return fragments


def _backward_docstrings(text: str) -> dict:
    """{class name: docstring of its backward} of a student file."""
    out = {}
    for node in ast.parse(text).body:
        if isinstance(node, ast.ClassDef):
            (backward,) = [f for f in node.body if isinstance(f, ast.FunctionDef) and f.name == "backward"]
            out[node.name] = ast.get_docstring(backward)
    return out


def test_answer_fragments_are_the_formulas_of_the_reference_docstrings():
    from minitransformer.functional.activation import Softmax
    from minitransformer.ops.arithmetic import Div

    assert _answer_fragments(Softmax.backward.__doc__) == ["y_i (delta_ij - y_j)", "y * (g - sum_j g_j y_j)"]
    assert _answer_fragments(Div.backward.__doc__) == ["1/b", "-a/b^2"]


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda ex: ex.slug)
def test_backward_docstrings_state_the_task_not_the_answer(handout, exercise):
    text = (handout / exercise.filename).read_text()
    docstrings = _backward_docstrings(text)
    fragments_seen = 0
    for ref in exercise.functions:
        cls = ref.load()
        doc = " ".join(docstrings[ref.name].split())
        assert doc == " ".join(ref.task.split()), ref.name       # the catalog's statement, in place
        assert "shape" in doc and "grad is dL/d" in doc and "Return" in doc and "forward saved" in doc, doc
        reference = inspect.getdoc(cls.backward)
        assert " ".join(reference.split()) not in " ".join(text.split()), ref.name  # the answer is gone
        fragments = _answer_fragments(reference)
        fragments_seen += len(fragments)
        for fragment in fragments:
            assert fragment not in doc, (ref.name, fragment)
            assert fragment.replace(" ", "") not in doc.replace(" ", ""), (ref.name, fragment)
    if exercise.slug not in ("mul", "sum"):  # d(a*b)/da = b, d sum(x)/dx_i = 1: no fragment to look for
        assert fragments_seen, exercise.slug
    assert "says what to compute, with which shapes" in " ".join(text.split())


def test_the_reference_ops_keep_their_derivation():
    from minitransformer.functional.activation import Softmax
    from minitransformer.functional.normalization import LayerNorm

    assert "dL/dx = y * (g - sum_j g_j y_j)" in Softmax.backward.__doc__
    assert "rstd * (g_hat - mean(g_hat) - x_hat * mean(g_hat * x_hat))" in LayerNorm.backward.__doc__


def test_a_class_without_a_task_statement_is_refused(tmp_path, monkeypatch):
    from minitransformer.exercises.stubs import task_statement

    (tmp_path / "reference_t.py").write_text(REFERENCE.format(forward="x * 2"))
    monkeypatch.syspath_prepend(str(tmp_path))
    op = importlib.import_module("reference_t").Op
    with pytest.raises(ValueError, match="no task statement for it; add one to TASKS"):
        task_statement(op, EXERCISES[0])
    with pytest.raises(ValueError, match="no task statement"):
        stub_source(op, EXERCISES[0])


def test_the_stubs_import_the_helpers_a_solution_needs(handout):
    mul = (handout / "exercise_01_mul.py").read_text()
    assert "from minitransformer.ops.broadcasting import" in mul and "unbroadcast" in mul
    assert "from minitransformer.ops.broadcasting import unbroadcast" in (handout / "exercise_03_matmul.py").read_text()
    layer_norm = (handout / "exercise_09_layer_norm.py").read_text()
    assert "\ndef _normalized(x, n_axes, eps):\n" in layer_norm       # the formula's helper, not a kernel
    assert "for_each_row_block" not in layer_norm and "out=" not in layer_norm
    assert "scatter_add_rows" in (handout / "exercise_10_embedding.py").read_text()
    attention = (handout / "exercise_11_attention.py").read_text()
    assert "\ndef attention_weights(q, k, mask=None):\n" in attention  # the forward's helper, in the file


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda ex: ex.slug)
def test_no_stub_imports_from_its_reference_module(handout, exercise):
    text = (handout / exercise.filename).read_text()
    imported = [node for node in ast.parse(text).body if isinstance(node, ast.ImportFrom)]
    for ref in exercise.functions:
        assert not [n for n in imported if n.module == ref.module], (ref.module, text[:2000])
    for name in ("_expand", "_count"):
        assert name not in text


REFERENCE = '''
from minitransformer import Function


def _helper(g):
    return g * 2


class Op(Function):
    @staticmethod
    def forward(ctx, x):
        return {forward}

    @staticmethod
    def backward(ctx, grad):
        """d(2x)/dx = 2."""
        # BEGIN SOLUTION
        return _helper(grad)
        # END SOLUTION
'''


@pytest.mark.parametrize("forward, copied", [("x * 2", False), ("_helper(x)", True)])
def test_a_helper_of_the_reference_module_is_copied_or_refused(tmp_path, monkeypatch, forward, copied):
    from minitransformer.exercises.stubs import import_lines

    name = f"reference_{int(copied)}"
    (tmp_path / f"{name}.py").write_text(REFERENCE.format(forward=forward))
    monkeypatch.syspath_prepend(str(tmp_path))
    op = importlib.import_module(name).Op
    if not copied:  # only the solution calls it: importing it would hand out part of the answer
        with pytest.raises(ValueError, match="its solution calls _helper, a helper of its own module"):
            import_lines([op], EXERCISES[0])
        return
    imports, helpers = import_lines([op], EXERCISES[0])  # the given forward calls it: copied in
    assert imports == ["from minitransformer import Function"]
    assert helpers == ["def _helper(g):\n    return g * 2\n"]


def test_stubs_filled_with_the_reference_solutions_pass_the_grader(tmp_path):
    make_exercises(tmp_path)
    for ex in EXERCISES:
        for ref in ex.functions:
            replace_stub(tmp_path / ex.filename, ref.name, solution_source(ref.load()))
    results = check_exercises(tmp_path, examples=4)
    assert [(r.number, r.status) for r in results] == [(ex.number, "pass") for ex in EXERCISES], \
        "\n".join(r.line() for r in results)
    assert all(r.file.startswith(str(tmp_path)) for r in results)


def test_make_refuses_a_non_empty_folder_unless_forced(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty.*--force"):
        make_exercises(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    written = make_exercises(tmp_path, force=True)
    assert len(written) == len(EXERCISES) + 1
    assert (tmp_path / "notes.txt").read_text() == "mine"  # others' files are left alone


def test_make_refuses_a_file_and_can_write_a_subset(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(NotADirectoryError):
        make_exercises(tmp_path / "f")
    written = make_exercises(tmp_path / "new" / "hw", exercises=[3, 11])
    assert [p.name for p in written] == ["exercise_03_matmul.py", "exercise_11_attention.py", "README.md"]


def test_replace_stub_names_a_missing_class(handout, tmp_path):
    path = tmp_path / "x.py"
    path.write_text((handout / "exercise_01_mul.py").read_text())
    with pytest.raises(ValueError, match="no class Div"):
        replace_stub(path, "Div", "return grad, grad")
    replace_stub(path, "Mul", "return grad, grad")
    with pytest.raises(ValueError, match="no class Mul with a 'raise"):
        replace_stub(path, "Mul", "return grad, grad")
