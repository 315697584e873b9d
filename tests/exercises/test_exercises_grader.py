"""The grader, proved both ways: right answers pass, stubs are "not attempted", wrong ones fail.

Each deliberately wrong backward below is a mistake students make; it is
written into a freshly made student folder (``replace_stub``), the other
classes of the exercise filled with their reference solutions, and the grader
must fail that exercise with a message naming it -- through Hypothesis (which
shrinks the case) and through the NumPy fallback a plain install uses.
"""
import sys

import numpy as np
import pytest

import minitransformer as mt
from minitransformer.exercises import (
    EXERCISES, check_exercises, get_exercise, make_exercises, replace_stub, solution_source,
)
from minitransformer.exercises.attention import AttentionFunction, attention_weights, fused_attention
from minitransformer.functional.loss import CrossEntropyFunction
from minitransformer.functional.normalization import LayerNormFunction
from minitransformer.ops.arithmetic import Div
from minitransformer.ops.matmul import MatMul


def edited(cls, old, new):
    """The reference solution of ``cls`` with ``old`` replaced by ``new`` (which must occur)."""
    source = solution_source(cls)
    assert old in source, f"{old!r} not in the solution of {cls.__name__}"
    return source.replace(old, new)


WRONG = {
    "matmul missing transpose": (3, "MatMul", lambda: edited(MatMul, "matmul(g, b2.swapaxes(-1, -2))", "matmul(g, b2)")),
    "mul forgets the broadcast reduction": (1, "Mul", lambda: "a, b = ctx.saved_tensors\nreturn grad * b, grad * a"),
    "div wrong sign": (2, "Div", lambda: edited(Div, "unbroadcast(-grad * a", "unbroadcast(grad * a")),
    "mean without 1/N": (5, "Mean", lambda: "return _expand(grad, ctx.x_shape, ctx.axes)"),
    "softmax without the subtraction": (7, "Softmax", lambda: "(y,) = ctx.saved_tensors\nreturn y * grad"),
    "log-softmax without the softmax term": (8, "LogSoftmax", lambda: "return grad"),
    "cross-entropy without the softmax term": (8, "CrossEntropyFunction", lambda: edited(
        CrossEntropyFunction, "xp.multiply(probs, weight[:, None], out=g)", "g[...] = 0")),
    "layer norm missing the mean(g_hat) term": (9, "LayerNormFunction", lambda: edited(
        LayerNormFunction, "out -= row_mean(g_hat, n_axes)", "")),
    "layer norm missing the x_hat term": (9, "LayerNormFunction", lambda: edited(
        LayerNormFunction, "xp.subtract(g_hat, out, out=out)", "out[...] = g_hat")),
    "embedding overwrites repeated ids": (10, "EmbeddingFunction", lambda: """
        (ids,) = ctx.saved_tensors
        dim = grad.shape[-1]
        gw = get_array_module(grad).zeros((ctx.num_rows, dim), dtype=grad.dtype)
        gw[ids.reshape(-1)] = grad.reshape(-1, dim)
        return gw, None
        """),
    "attention forgets the mask": (11, "AttentionFunction", lambda: edited(
        AttentionFunction, "attention_weights(q, k, mask)", "attention_weights(q, k)")),
    "dropout forgets the 1/(1-p) scale": (12, "DropoutFunction", lambda: "(mask,) = ctx.saved_tensors\n"
                                                                         "return grad * (mask != 0)"),
}


def student_folder(path, number, wrong_class=None, wrong_code=None):
    """A made folder with exercise ``number`` answered: the reference, one class wrong."""
    make_exercises(path, exercises=[number])
    exercise = get_exercise(number)
    for ref in exercise.functions:
        code = wrong_code if ref.name == wrong_class else solution_source(ref.load())
        replace_stub(path / exercise.filename, ref.name, code)
    return path


def test_the_reference_passes_every_exercise():
    results = check_exercises(examples=8)
    assert [r.status for r in results] == ["pass"] * len(EXERCISES), "\n".join(r.line() for r in results)
    assert all(r.cases >= 8 * len(get_exercise(r.number).checks) for r in results)
    assert results[2].line() == f"Exercise 3 (MatMul backward): PASS ({results[2].cases} cases)."


def test_the_reference_passes_with_the_numpy_fallback():
    results = check_exercises(examples=6, cases="numpy", seed=3)
    assert [r.status for r in results] == ["pass"] * len(EXERCISES), "\n".join(r.line() for r in results)


def test_without_hypothesis_the_grader_falls_back_to_numpy(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "hypothesis", None)  # import hypothesis -> ImportError
    assert [r.status for r in check_exercises(exercises=[3, 11], examples=5)] == ["pass", "pass"]
    number, cls, code = WRONG["attention forgets the mask"]
    (result,) = check_exercises(student_folder(tmp_path, number, cls, code()), [number], examples=12)
    assert result.status == "fail" and "the gradient for" in result.message
    with pytest.raises(ValueError, match="needs Hypothesis"):
        check_exercises(exercises=[1], cases="hypothesis")


def test_fresh_stubs_are_not_attempted(tmp_path):
    make_exercises(tmp_path)
    results = check_exercises(tmp_path)
    assert [r.status for r in results] == ["not attempted"] * len(EXERCISES)
    for ex, r in zip(EXERCISES, results):
        assert r.line() == f"Exercise {ex.number} ({ex.title}): not attempted yet."
        assert not r.passed


@pytest.mark.parametrize("cases", ["hypothesis", "numpy"])
@pytest.mark.parametrize("mistake", list(WRONG))
def test_a_wrong_backward_fails_its_exercise(tmp_path, mistake, cases):
    number, cls, code = WRONG[mistake]
    folder = student_folder(tmp_path, number, cls, code())
    (result,) = check_exercises(folder, [number], examples=12, cases=cases)
    exercise = get_exercise(number)
    assert result.status == "fail", result.line()
    assert result.line().startswith(f"Exercise {number} ({exercise.title}): FAIL. "), result.line()
    # the message speaks of an input by its shape: "With A of shape (2, 3) ..."
    assert " of shape (" in result.message


def test_a_gradient_failure_names_the_element_the_values_and_the_formula(tmp_path):
    # a sign slip in dL/dB only: never an exception, always a wrong value
    slip = edited(MatMul, "matmul(a2.swapaxes(-1, -2), g)", "-matmul(a2.swapaxes(-1, -2), g)")
    folder = student_folder(tmp_path, 3, "MatMul", slip)
    (result,) = check_exercises(folder, [3])
    check = result.checks[0].outcome
    assert check.input == "B" and set(check.shapes) == {"A", "B"}
    shape_a, shape_b = (", ".join(map(str, check.shapes[n])) for n in "AB")
    assert result.message.startswith(f"With A of shape ({shape_a}") and f"B of shape ({shape_b}" in result.message
    assert abs(check.analytic - check.numeric) > 1e-3
    assert f"the gradient for B at index {check.index} is {check.analytic:.4g} but finite differences " \
           f"give {check.numeric:.4g}" in result.message
    assert result.message.endswith("Check: dL/dB = A^T dL/dC (batch axes that broadcasting added summed out).")


def test_an_exception_in_student_code_names_its_line(tmp_path):
    folder = student_folder(tmp_path, 4, "Sum", "x = ctx.x_shape\nreturn grad + undefined_name")
    (result,) = check_exercises(folder, [4])
    assert result.status == "fail"
    assert "raised NameError: name 'undefined_name' is not defined (exercise_04_sum.py, line " in result.message
    assert result.message.endswith(": return grad + undefined_name).")


def test_a_wrong_shape_reported_by_the_engine_says_so(tmp_path):
    folder = student_folder(tmp_path, 1, "Mul", WRONG["mul forgets the broadcast reduction"][2]())
    (result,) = check_exercises(folder, [1])
    assert "Mul.backward returned a gradient of shape" in result.message
    assert "did you forget to sum over broadcast axes" in result.message


def test_a_partly_done_exercise_is_not_attempted_and_says_what_is_left(tmp_path):
    make_exercises(tmp_path, exercises=[8])
    replace_stub(tmp_path / get_exercise(8).filename, "LogSoftmax",
                 solution_source(get_exercise(8).functions[0].load()))
    (result,) = check_exercises(tmp_path, [8])
    assert result.status == "not attempted"
    assert result.message == "CrossEntropyFunction.backward still raises NotImplementedError; LogSoftmax passes"


def test_the_padding_row_rule_is_checked(tmp_path):
    solution = solution_source(get_exercise(10).functions[0].load())
    folder = student_folder(tmp_path, 10, "EmbeddingFunction",
                            solution.replace("gw[ctx.padding_idx] = 0", "pass"))
    (result,) = check_exercises(folder, [10])
    assert result.status == "fail"
    assert "padding_idx=0" in result.message and "row 0, the padding row, gets no gradient" in result.message


def test_files_that_do_not_import_or_lack_a_class_fail_with_the_reason(tmp_path):
    make_exercises(tmp_path, exercises=[1, 2])
    mul = tmp_path / "exercise_01_mul.py"
    mul.write_text(mul.read_text() + "\ndef oops(:\n")
    div = tmp_path / "exercise_02_div.py"
    div.write_text(div.read_text().replace("class Div(", "class Divide("))
    one, two, three = check_exercises(tmp_path, [1, 2, 3])
    assert one.line().startswith("Exercise 1 (Mul backward): FAIL. exercise_01_mul.py does not import: "
                                 "SyntaxError: ")
    assert "exercise_01_mul.py, line " in one.message
    assert two.message == ("exercise_02_div.py defines no class Div; keep the class names of the file "
                           "you were given.")
    assert three.status == "fail" and three.message.startswith("There is no exercise_03_matmul.py in ")


def test_bad_arguments_are_value_errors(tmp_path):
    with pytest.raises(ValueError, match="no exercise 13; the exercises are numbered 1 to 12"):
        check_exercises(exercises=[13])
    with pytest.raises(ValueError, match="examples must be a positive integer"):
        check_exercises(examples=0)
    with pytest.raises(FileNotFoundError, match="no folder"):
        check_exercises(tmp_path / "missing")
    with pytest.raises(ValueError, match="cases must be"):
        check_exercises(exercises=[1], cases="torch")


def test_the_grader_leaves_the_engine_state_alone():
    mt.manual_seed(123)
    before = mt.rand(3).numpy()
    mt.manual_seed(123)
    check_exercises(exercises=[12], examples=3)  # dropout reseeds while it checks
    np.testing.assert_array_equal(mt.rand(3).numpy(), before)
    assert mt.get_default_dtype() == np.float32


def test_fused_attention_matches_the_composed_op_and_its_weights():
    rng = np.random.default_rng(0)
    q, k, v = (mt.tensor(rng.standard_normal(s), dtype="float64", requires_grad=True)
               for s in [(2, 3, 4), (2, 5, 4), (2, 5, 2)])
    mask = rng.random((1, 3, 5)) < 0.6
    mask[0, 0] = False  # a query with every key masked: zero output, zero gradient
    out = fused_attention(q, k, v, mask)
    ref = mt.functional.scaled_dot_product_attention(q, k, v, mask=mask)
    np.testing.assert_allclose(out.numpy(), ref.numpy(), atol=1e-12)
    np.testing.assert_array_equal(out.numpy()[:, 0], 0)
    weights = attention_weights(q.numpy(), k.numpy(), mask)
    np.testing.assert_allclose(weights.sum(-1)[:, 1:], 1)
    assert mt.gradcheck(lambda a, b, c: fused_attention(a, b, c, mask), [q, k, v])
    with pytest.raises(ValueError, match="AttentionFunction: q .* do not fit"):
        fused_attention(q, k, v[:, :4])
