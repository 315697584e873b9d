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
from minitransformer.functional.fused_attention import Attention, attention_weights, fused_attention
from minitransformer.functional.activation import LogSoftmax, Softmax
from minitransformer.functional.embedding import Embedding
from minitransformer.functional.loss import CrossEntropy
from minitransformer.functional.normalization import LayerNorm
from minitransformer.ops.arithmetic import Div, Mul
from minitransformer.ops.matrix_product import MatMul
from minitransformer.ops.reduction import Mean, Sum
from minitransformer.ops.unary import Log


def edited(cls, old, new):
    """The reference solution of ``cls`` (or a source text) with ``old`` replaced by ``new`` (which must occur)."""
    source = cls if isinstance(cls, str) else solution_source(cls)
    assert old in source, f"{old!r} not in the solution of {getattr(cls, '__name__', 'the source')}"
    return source.replace(old, new)




WRONG = {
    # --- the first catalogue
    "matmul missing transpose": (3, "MatMul", lambda: edited(MatMul, "g @ b2.swapaxes(-1, -2)", "g @ b2")),
    "mul forgets the broadcast reduction": (1, "Mul", lambda: "a, b = ctx.saved_tensors\nreturn grad * b, grad * a"),
    "div wrong sign": (2, "Div", lambda: edited(Div, "unbroadcast(-grad * a", "unbroadcast(grad * a")),
    "mean without 1/N": (5, "Mean", lambda: edited(Mean, "grad / n", "grad")),
    "softmax without the subtraction": (7, "Softmax", lambda: "(y,) = ctx.saved_tensors\nreturn y * grad"),
    "log-softmax without the softmax term": (8, "LogSoftmax", lambda: "return grad"),
    "cross-entropy without the softmax term": (8, "CrossEntropy", lambda: edited(
        CrossEntropy, "gx = (probs - q) * row_weights", "gx = -q * row_weights")),
    "layer norm missing the mean(g_hat) term": (9, "LayerNorm", lambda: edited(
        LayerNorm, "g_hat - g_hat.mean(axis=axes, keepdims=True)", "g_hat")),
    "layer norm missing the x_hat term": (9, "LayerNorm", lambda: edited(
        LayerNorm, "- x_hat * (g_hat * x_hat).mean(axis=axes, keepdims=True))", "- 0)")),
    "embedding overwrites repeated ids": (10, "Embedding", lambda: """
        (ids,) = ctx.saved_tensors
        dim = grad.shape[-1]
        gw = get_array_module(grad).zeros((ctx.num_rows, dim), dtype=grad.dtype)
        gw[ids.reshape(-1)] = grad.reshape(-1, dim)
        return gw, None
        """),
    "attention forgets the mask": (11, "Attention", lambda: edited(
        Attention, "attention_weights(q, k, mask)", "attention_weights(q, k)")),
    "dropout forgets the 1/(1-p) scale": (12, "Dropout", lambda: "(mask,) = ctx.saved_tensors\n"
                                                                         "return grad * (mask != 0)"),
    # --- the mistakes that slipped through depending on the seed (or always)
    "embedding padding row hard-coded as 0": (10, "Embedding", lambda: edited(
        Embedding, "gw[ctx.padding_idx] = 0", "gw[0] = 0")),
    "sum broadcast without restoring the reduced axes": (4, "Sum", lambda: edited(
        Sum, "if not ctx.keepdims:\n    grad = xp.expand_dims(grad, ctx.axes)\n", "")),
    "mean broadcast without restoring the reduced axes": (5, "Mean", lambda: edited(
        Mean, "if not ctx.keepdims:\n    grad = xp.expand_dims(grad, ctx.axes)\n", "")),
    "cross-entropy mean over all rows, ignored ones included": (8, "CrossEntropy", lambda: edited(
        CrossEntropy, "grad / max(ctx.count, 1)", "grad / t.size")),
    "attention without 1/sqrt(d_k)": (11, "Attention", lambda: edited(
        Attention, "scale = 1.0 / math.sqrt(q.shape[-1])", "scale = 1.0")),
    # --- more classic ones
    "matmul dL/dB with the factors swapped": (3, "MatMul", lambda: edited(
        MatMul, "a2.swapaxes(-1, -2) @ g", "g @ a2.swapaxes(-1, -2)")),
    "matmul dL/dA not summed over broadcast batch axes": (3, "MatMul", lambda: edited(
        MatMul, "ga = unbroadcast(g @ b2.swapaxes(-1, -2), a2.shape).reshape(a.shape)",
        "ga = g @ b2.swapaxes(-1, -2)\n    ga = ga if a.ndim > 1 else ga.reshape(a.shape)")),
    "mul swaps the operands": (1, "Mul", lambda: edited(
        edited(Mul, "grad * b, a.shape", "grad * a, a.shape"), "grad * a, b.shape", "grad * b, b.shape")),
    "div dL/da multiplies by b": (2, "Div", lambda: edited(Div, "unbroadcast(grad / b", "unbroadcast(grad * b")),
    "div dL/db without the square": (2, "Div", lambda: edited(Div, "a / (b * b)", "a / b")),
    "mean divides by x.size": (5, "Mean", lambda: edited(
        Mean, "for axis in ctx.axes:\n    n *= ctx.x_shape[axis]", "for size in ctx.x_shape:\n    n *= size")),
    "exp returns the incoming gradient": (6, "Exp", lambda: "return grad"),
    "log multiplies by x": (6, "Log", lambda: edited(Log, "grad / x", "grad * x")),
    "softmax sum without keepdims": (7, "Softmax", lambda: edited(
        Softmax, ".sum(axis=ctx.axis, keepdims=True)", ".sum(axis=ctx.axis)")),
    "softmax sums over the last axis": (7, "Softmax", lambda: edited(Softmax, "axis=ctx.axis", "axis=-1")),
    "log-softmax uses y for softmax(x)": (8, "LogSoftmax", lambda: edited(LogSoftmax, "xp.exp(y) * ", "y * ")),
    "cross-entropy ignores label smoothing": (8, "CrossEntropy", lambda: edited(
        CrossEntropy, "ctx.eps / num_classes", "0.0").replace("1 - ctx.eps", "1.0")),
    "cross-entropy does not zero ignored rows": (8, "CrossEntropy", lambda: edited(
        CrossEntropy, "* valid", "* 1.0")),
    "layer norm bias gradient not summed over the batch": (9, "LayerNorm", lambda: edited(
        LayerNorm, "gb = grad.sum(axis=rows)", "gb = grad")),
    "layer norm forgets the weight in g_hat": (9, "LayerNorm", lambda: edited(
        LayerNorm, "g_hat = grad if weight is None else grad * weight", "g_hat = grad")),
    "embedding table one row short": (10, "Embedding", lambda: edited(
        Embedding, "ctx.num_rows)", "ctx.num_rows - 1)")),
    "attention dK without the transpose": (11, "Attention", lambda: edited(
        Attention, "(ds.swapaxes(-1, -2) @ q)", "(ds @ q)")),
    "attention softmax backward without the row sum": (11, "Attention", lambda: edited(
        Attention, "ds = p * (dp - (dp * p).sum(axis=-1, keepdims=True))", "ds = p * dp")),
    "dropout lets the gradient through dropped elements": (12, "Dropout", lambda: "return grad"),
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


SEEDS = range(10)


@pytest.mark.parametrize("mistake", list(WRONG))
def test_a_wrong_backward_fails_its_exercise_on_every_seed(tmp_path, mistake):
    """The sweep: each mistake fails for every seed and both case sources, decided by a fixed case."""
    number, cls, code = WRONG[mistake]
    folder = student_folder(tmp_path, number, cls, code())
    exercise = get_exercise(number)
    messages = set()
    for cases in ("hypothesis", "numpy"):
        for seed in SEEDS:
            (result,) = check_exercises(folder, [number], examples=2, seed=seed, cases=cases)
            assert result.status == "fail", (cases, seed, result.line())
            assert result.line().startswith(f"Exercise {number} ({exercise.title}): FAIL. "), result.line()
            # the message speaks of an input by its shape: "With the fixed case A of shape (2, 3) ..."
            assert " of shape (" in result.message
            deciding = next(c for c in result.checks if c.status == "fail")
            # a fixed case (or an extra check, which has no random part) decided it, not the draw
            assert deciding.outcome.fixed or deciding.name in dict(exercise.extra_checks), result.line()
            messages.add(result.message)
    assert len(messages) == 1, messages  # the same verdict and the same words for every seed


def test_the_catalogue_holds_the_mistakes_that_slipped_through():
    assert len(WRONG) >= 12 + 5 + 10
    assert {"embedding padding row hard-coded as 0", "sum broadcast without restoring the reduced axes",
            "mean broadcast without restoring the reduced axes", "attention without 1/sqrt(d_k)",
            "cross-entropy mean over all rows, ignored ones included"} <= set(WRONG)
    assert {number for number, _, _ in WRONG.values()} == {ex.number for ex in EXERCISES}


@pytest.mark.parametrize("cases", ["hypothesis", "numpy"])
def test_the_reference_passes_on_every_seed(cases):
    for seed in SEEDS:
        results = check_exercises(examples=2, seed=seed, cases=cases)
        assert [r.status for r in results] == ["pass"] * len(EXERCISES), (seed, [r.line() for r in results])


def test_a_gradient_failure_names_the_element_the_values_and_the_formula(tmp_path):
    # a sign slip in dL/dB only: never an exception, always a wrong value
    slip = edited(MatMul, "a2.swapaxes(-1, -2) @ g", "-(a2.swapaxes(-1, -2) @ g)")
    folder = student_folder(tmp_path, 3, "MatMul", slip)
    (result,) = check_exercises(folder, [3])
    check = result.checks[0].outcome
    assert check.input == "B" and set(check.shapes) == {"A", "B"}
    shape_a, shape_b = (", ".join(map(str, check.shapes[n])) for n in "AB")
    assert result.message.startswith(f"With the fixed case A of shape ({shape_a}")
    assert f"B of shape ({shape_b}" in result.message
    assert abs(check.analytic - check.numeric) > 1e-3
    assert f"the gradient for B at index {check.index} is {check.analytic:.4g} but finite differences " \
           f"give {check.numeric:.4g}" in result.message
    # the formula is the hint's (once), not repeated at the end of the message
    assert "dL/dB = A^T dL/dC" not in result.message and "dL/dB = A^T dL/dC" in result.hint


def test_an_exception_in_student_code_names_its_line(tmp_path):
    folder = student_folder(tmp_path, 4, "Sum", "x = ctx.x_shape\nreturn grad + undefined_name")
    (result,) = check_exercises(folder, [4])
    assert result.status == "fail"
    assert "raised NameError: name 'undefined_name' is not defined (exercise_04_sum.py, line " in result.message
    assert ": return grad + undefined_name). To redo it by hand: x = [[" in result.message


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
    assert result.message == "CrossEntropy.backward still raises NotImplementedError; LogSoftmax passes"


def test_the_padding_row_rule_is_checked(tmp_path):
    solution = solution_source(get_exercise(10).functions[0].load())
    folder = student_folder(tmp_path, 10, "Embedding",
                            solution.replace("gw[ctx.padding_idx] = 0", "pass"))
    (result,) = check_exercises(folder, [10])
    assert result.status == "fail"
    assert "padding_idx=2" in result.message and "row 2, the padding row, gets no gradient" in result.message
    assert "should be [[8.0, 10.0, 12.0], [16.0, 17.0, 18.0], [0.0, 0.0, 0.0], [10.0, 11.0, 12.0]]" in result.message


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
    with pytest.raises(ValueError, match="Attention: q .* do not fit"):
        fused_attention(q, k, v[:, :4])


# ------------------------------------------------------------------ the messages
def failure(tmp_path, number, cls, code, **kw):
    (result,) = check_exercises(student_folder(tmp_path, number, cls, code), [number], examples=2, **kw)
    assert result.status == "fail", result.line()
    return result


def test_a_gradient_of_the_reduced_shape_is_told_to_keep_the_axes(tmp_path):
    result = failure(tmp_path, 4, "Sum", "return grad")
    assert result.message.startswith(
        "With the fixed case x of shape (2, 3) (axis=1, keepdims=False), Sum.backward returned a gradient of "
        "shape (2,) for x, which has shape (2, 3): that is the shape of the reduction's output, so the "
        "reduced axes are missing. keepdims=False dropped them: put them back with length 1")
    assert "broadcast axes" not in result.message and "float64" not in result.message


def test_numpy_broadcast_errors_are_translated(tmp_path):
    number, cls, code = WRONG["sum broadcast without restoring the reduced axes"]
    result = failure(tmp_path, number, cls, code())
    assert "the backward pass failed (exercise_04_sum.py, line " in result.message
    assert ": return xp.broadcast_to(grad, ctx.x_shape)): arrays of shapes (2,) and (2, 3) do not broadcast " \
           "together: NumPy lines shapes up from their last axes" in result.message
    assert "np.expand_dims(g, axes)" in result.message
    assert "operands could not be broadcast" not in result.message
    assert "operands could not be broadcast" in result.checks[0].outcome.exception  # kept for the record


def test_numpy_matmul_errors_are_translated(tmp_path):
    number, cls, code = WRONG["matmul dL/dB with the factors swapped"]
    result = failure(tmp_path, number, cls, code())
    assert ": gb = unbroadcast(g @ a2.swapaxes(-1, -2), b2.shape).reshape(b.shape)): a matrix product there multiplies " \
           "factors that do not chain" in result.message
    assert "here one has 3 and the other 4" in result.message and "swapaxes(-1, -2)" in result.message
    assert "core dimension" not in result.message and "gufunc" not in result.message


def test_a_transposed_gradient_and_a_wrong_table_size_are_named(tmp_path):
    result = failure(tmp_path / "mm", 3, "MatMul", "a, b = ctx.saved_tensors\nreturn b @ grad.swapaxes(-1, -2), None")
    assert ("MatMul.backward returned a gradient of shape (3, 2) for A, which has shape (2, 3): its last two "
            "axes are swapped, so an operand is not transposed or the factors are in the wrong order.") \
        in result.message
    assert "dL/dA = dL/dC B^T" not in result.message  # the hint states the formula
    number, cls, code = WRONG["embedding table one row short"]
    result = failure(tmp_path / "emb", number, cls, code())
    assert ("Embedding.backward returned a gradient of shape (5, 3) for W, which has shape (6, 3): "
            "the table W has 6 rows, so dL/dW needs 6 rows too") in result.message
    assert "broadcast" not in result.message


def test_a_failing_fixed_case_can_be_redone_by_hand(tmp_path):
    from minitransformer.exercises.grader import fixed_cases, readable_upstream

    number, cls, code = WRONG["div wrong sign"]
    result = failure(tmp_path, number, cls, code())
    a, b = fixed_cases(get_exercise(2).checks[0])[0].arrays  # the first fixed case: (2, 3) and (2, 3)
    g = readable_upstream((2, 3))
    want_b = -g * a / b ** 2
    shown = lambda x: repr(np.round(x, 4).tolist())  # noqa: E731
    assert f"To redo it by hand: a = {shown(a)}, b = {shown(b)}, upstream gradient dL/dout = {shown(g)}; " \
           f"dL/db should be {shown(want_b)} (finite differences), yours is {shown(-want_b)}." in result.message
    assert result.line().endswith(f"Hint: {get_exercise(2).hint}")


def test_hints_only_after_a_failure_or_never_with_hints_off(tmp_path):
    number, cls, code = WRONG["div wrong sign"]
    folder = student_folder(tmp_path, number, cls, code())
    (with_hints,) = check_exercises(folder, [2], examples=2)
    (without,) = check_exercises(folder, [2], examples=2, hints=False)
    assert with_hints.hint == get_exercise(2).hint and "Check:" not in with_hints.message
    assert without.hint == "" and "Check:" not in without.message and "Hint" not in without.line()
    assert without.message == with_hints.message  # the formula is the hint's alone
    (passed,) = check_exercises(exercises=[1], examples=2)
    assert passed.hint == "" and "Hint" not in passed.line()
    make_exercises(tmp_path / "fresh", exercises=[1])
    (todo,) = check_exercises(tmp_path / "fresh", [1])
    assert todo.status == "not attempted" and todo.hint == "" and "Hint" not in todo.line()
