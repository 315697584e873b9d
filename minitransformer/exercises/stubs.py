"""Writing the student version: the reference classes with their solutions blanked out.

For each exercise, ``make_exercises`` writes ``exercise_NN_<slug>.py``: the
source of its Function classes, taken from the reference implementation with
``inspect.getsource``, in which every region between ``# BEGIN SOLUTION`` and
``# END SOLUTION`` becomes ``raise NotImplementedError("Exercise N: ...")``,
preceded by the imports the classes need -- every module-level name the
reference class uses (its solution included, so the engine's helpers a
solution may want, such as ``unbroadcast``, are at hand), imported from where
it is defined in minitransformer.  Nothing is imported from the reference
module itself: the helpers of that module the forward calls (the attention
weights of exercise 11) are copied into the file, so that the student's
file runs only its own code, and a reference solution that calls a helper
of its own module is refused (the student would import part of the answer).
A class's ``backward_graph`` (the derivative on Tensors, for higher-order
gradients) is left out: it would give the answer away.  The docstring of a
``backward`` with a solution region, which in the reference states the
answer, is replaced by the task statement of the catalog
(``FunctionRef.task``): what to compute, with which shapes, and what forward
saved; the derivation is in the docs page the file's docstring names.  No
hint is written into the files: the grader prints it after a failed check.
"""
from __future__ import annotations

import ast
import builtins
import inspect
import re
import sys
import textwrap
from pathlib import Path

import minitransformer

from .catalog import EXERCISES, Exercise, select

BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"


def _regions(cls) -> list:
    """(first line, last line, indent) of each marked region of ``cls``'s source (0-based, inclusive)."""
    lines = inspect.getsource(cls).splitlines()
    regions, start = [], None
    for i, line in enumerate(lines):
        text = line.strip()
        if text == BEGIN and start is None:
            start = i
        elif text == BEGIN or (text == END and start is None):
            raise ValueError(f"{cls.__module__}.{cls.__name__}: unbalanced solution markers at line {i + 1} "
                             f"of its source; each '{BEGIN}' needs one '{END}' after it")
        elif text == END:
            regions.append((start, i, line[: len(line) - len(line.lstrip())]))
            start = None
    if start is not None or not regions:
        raise ValueError(f"{cls.__module__}.{cls.__name__}: no complete '{BEGIN}' ... '{END}' region in its "
                         "source; put the markers around the body of its backward (after the docstring)")
    return regions


def solution_source(cls) -> str:
    """The reference code between the markers of ``cls`` (dedented, the markers left out)."""
    lines = inspect.getsource(cls).splitlines()
    parts = [textwrap.dedent("\n".join(lines[a + 1:b])) for a, b, _ in _regions(cls)]
    return "\n".join(parts) + "\n"


def _raise_statement(exercise: Exercise, indent: str) -> list:
    """``raise NotImplementedError("Exercise N: title. ...")``, its message wrapped (no hint: the grader
    gives it after a failed attempt)."""
    message = f"Exercise {exercise.number}: {exercise.title}. Write it, then check it (see the top of this file)."
    words, chunks, line = message.split(" "), [], ""
    for word in words:  # every chunk but the last keeps its trailing space
        if line and len(line) + len(word) > 72:
            chunks.append(line)
            line = ""
        line += word + " "
    chunks.append(line.rstrip())
    body = [f"{indent}    {chunk!r}" for chunk in chunks]
    return [f"{indent}raise NotImplementedError(", *body, f"{indent})"]


def _blanked(cls, exercise: Exercise) -> str:
    """The source of ``cls`` with each solution region replaced by the exercise's raise."""
    lines = textwrap.dedent(inspect.getsource(cls)).splitlines()
    for a, b, _ in reversed(_regions(cls)):
        indent = lines[a][: len(lines[a]) - len(lines[a].lstrip())]
        lines[a:b + 1] = _raise_statement(exercise, indent)
    return _without_backward_graph("\n".join(lines) + "\n")


def task_statement(cls, exercise: Exercise) -> str:
    """The catalog's statement of what ``cls.backward`` computes (ValueError if it has none)."""
    for ref in exercise.functions:
        if ref.name == cls.__name__ and ref.module == cls.__module__ and ref.task.strip():
            task = " ".join(ref.task.split())
            if '"""' in task or "\\" in task:
                raise ValueError(f"{ref.module}.{ref.name}: its task statement cannot hold triple quotes "
                                 "or backslashes (it becomes a docstring)")
            return task
    raise ValueError(f"{cls.__module__}.{cls.__name__}: exercise {exercise.number} has no task statement for "
                     "it; add one to TASKS in minitransformer/exercises/catalog.py (its reference docstring "
                     "states the answer, so it cannot go into the student's file)")


def _with_task(source: str, task: str) -> str:
    """``source`` of a class with the docstring of its ``backward`` replaced by ``task``, wrapped."""
    lines = source.splitlines()
    (klass,) = ast.parse(source).body
    (backward,) = [n for n in klass.body if isinstance(n, ast.FunctionDef) and n.name == "backward"]
    first = backward.body[0]
    indent = " " * backward.body[-1].col_offset
    docstring = textwrap.wrap(task, 100 - len(indent) - 3, break_on_hyphens=False, break_long_words=False)
    docstring[0], docstring[-1] = '"""' + docstring[0], docstring[-1] + '"""'
    new = [indent + line for line in docstring]
    if ast.get_docstring(backward, clean=False) is not None:
        lines[first.lineno - 1:first.end_lineno] = new
    else:
        lines[first.lineno - 1:first.lineno - 1] = new
    return "\n".join(lines) + "\n"


def stub_source(cls, exercise: Exercise) -> str:
    """The student's version of ``cls``: each solution region replaced by the exercise's raise, the
    docstring of ``backward`` (the answer, in the reference) by the task statement of the catalog."""
    return _with_task(_blanked(cls, exercise), task_statement(cls, exercise))


def _without_backward_graph(source: str) -> str:
    """``source`` of a class with its ``backward_graph`` (a method or an alias) removed."""
    lines = source.splitlines()
    (klass,) = ast.parse(source).body
    for node in reversed(klass.body):
        names = [t.id for t in getattr(node, "targets", ()) if isinstance(t, ast.Name)]
        if getattr(node, "name", None) == "backward_graph" or names == ["backward_graph"]:
            first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", ())]) - 1
            while first > 0 and not lines[first - 1].strip():  # the blank line before it
                first -= 1
            del lines[first:node.end_lineno]
    return "\n".join(lines) + "\n"


_RAISE = re.compile(r"^(?P<indent>[ ]*)raise NotImplementedError\(\n.*?\n(?P=indent)\)\n", re.M | re.S)


def replace_stub(path, class_name: str, code: str) -> None:
    """In the student file ``path``, replace the raise in class ``class_name`` by ``code``.

    ``code`` is a backward's body (any indentation; it is re-indented).  For
    instructors and tests: fill a stub with ``solution_source(cls)`` to get the
    answer key, or with a deliberately wrong body to see that the grader
    catches it.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    start = text.find(f"\nclass {class_name}(")
    match = _RAISE.search(text, start) if start >= 0 else None
    if match is None:
        raise ValueError(f"{path.name} has no class {class_name} with a 'raise NotImplementedError(' left to replace")
    body = textwrap.indent(textwrap.dedent(code).strip("\n") + "\n", match.group("indent"))
    path.write_text(text[:match.start()] + body + text[match.end():], encoding="utf-8")


def _names_read(source: str, module_globals: dict) -> list:
    """Module-level names of ``module_globals`` that ``source`` reads, in order of first use."""
    seen = []
    for node in ast.walk(ast.parse(textwrap.dedent(source))):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in seen:
            if node.id in module_globals and not hasattr(builtins, node.id):
                seen.append(node.id)
    return seen


def _own_function(obj, module: str) -> bool:
    """A plain function defined in ``module`` (the reference class's own module)."""
    return inspect.isfunction(obj) and obj.__module__ == module


def _needs(cls, exercise: Exercise) -> tuple:
    """(names to import, helper functions to copy) for the student version of ``cls``.

    The helpers of the reference module that the given code (the forward) calls
    are copied into the student's file, so that nothing runs from the module of
    the solution; a name of that module read only by the solution is refused:
    a student would import part of the answer.
    """
    module = cls.__module__
    module_globals = vars(sys.modules[module])
    given = _names_read(_blanked(cls, exercise), module_globals)
    # the class as handed out, solution included: backward_graph stays out of the file
    handed_out = _without_backward_graph(textwrap.dedent(inspect.getsource(cls)))
    for name in _names_read(handed_out, module_globals):
        if name not in given and _own_function(module_globals[name], module):
            raise ValueError(f"{module}.{cls.__name__}: its solution calls {name}, a helper of its own "
                             "module, which the student's file would have to import; write it out in the "
                             "solution or give it to students in the forward")
    names = _names_read(handed_out, module_globals)
    imports, helpers, todo = [], [], list(names)
    while todo:
        name = todo.pop(0)
        obj = module_globals[name]
        if _own_function(obj, module):
            if obj not in helpers:
                helpers.append(obj)
                todo += [n for n in _names_read(inspect.getsource(obj), module_globals) if n not in names]
        elif name not in imports:
            imports.append(name)
    return imports, helpers


def _import_line(name: str, obj, home_module: str) -> tuple:
    """(module, 'import ...' or 'from ... import ...') for ``name``, bound to ``obj`` in ``home_module``."""
    if inspect.ismodule(obj):
        line = f"import {obj.__name__}" + ("" if obj.__name__ == name else f" as {name}")
        return obj.__name__, line
    module = getattr(obj, "__module__", None)
    if getattr(obj, "__name__", None) == name and module and getattr(sys.modules.get(module), name, None) is obj:
        # the engine's base classes read best from the top-level package
        if module.startswith("minitransformer.autograd") and getattr(minitransformer, name, None) is obj:
            module = "minitransformer"
        return module, None
    return home_module, None  # a constant (or an alias): from the module that uses it


def import_lines(classes, exercise: Exercise) -> tuple:
    """(the import statements, the helper sources) the student file of ``classes`` needs."""
    own = {cls.__name__ for cls in classes}
    plain, froms, helpers = set(), {}, []
    needs = [(cls, *_needs(cls, exercise)) for cls in classes]
    for _, _, functions in needs:
        helpers += [f for f in functions if f not in helpers]
    for cls, names, _ in needs:
        module_globals = vars(sys.modules[cls.__module__])
        for name in names:
            # a helper copied into the file (for another class of the exercise) is not imported too
            if name in own or name == "annotations" or module_globals[name] in helpers:
                continue
            module, line = _import_line(name, module_globals[name], cls.__module__)
            if line:
                plain.add(line)
            else:
                froms.setdefault(module, set()).add(name)
    out = sorted(plain) + ([""] if plain and froms else [])  # a blank line between the two groups
    out += [f"from {m} import {', '.join(sorted(names))}" for m, names in sorted(froms.items())]
    return out, [textwrap.dedent(inspect.getsource(f)) for f in helpers]


def exercise_text(exercise: Exercise) -> str:
    """The whole student module of one exercise."""
    classes = [f.load() for f in exercise.functions]
    names = " and ".join(exercise.class_names)
    passes = "pass" if len(classes) == 1 else "passes"
    intro = textwrap.fill(
        f"Write the backward {passes} of {names}: replace each ``raise NotImplementedError(...)`` "
        "below by your code.  The forward pass is given; the docstring of ``backward`` says what to "
        "compute, with which shapes, and what forward saved; ``backward`` works on raw NumPy (or CuPy) arrays, as in every op of minitransformer.",
        76, break_on_hyphens=False)
    read = f"\nThe derivation: docs/{exercise.docs} of the minitransformer documentation.\n" if exercise.docs else ""
    header = f'''"""Exercise {exercise.number}: {exercise.title}.

{intro}
{read}
Check your answer from this folder with

    minitransformer exercises check . --exercise {exercise.number}

(a failed check prints the failing case, and a hint).
"""
from __future__ import annotations

'''
    imports, helpers = import_lines(classes, exercise)
    body = "\n\n".join(helpers + [stub_source(cls, exercise) for cls in classes])
    return header + "\n".join(imports) + "\n\n\n" + body


def readme_text(exercises) -> str:
    """README.md of the student folder: the exercises and how to check them."""
    rows = "\n".join(f"| {ex.number} | {ex.title} | `{ex.filename}` | {', '.join(ex.class_names)} |"
                     for ex in exercises)
    return f"""# minitransformer exercises: backward passes

Each file below holds the forward and backward of real minitransformer ops,
with the body of `backward` replaced by `raise NotImplementedError(...)`.
Write it: `backward(ctx, grad)` receives the gradient of the loss with
respect to the op's output (a NumPy array, like everything `forward` saved
in `ctx`) and returns one gradient per input, each of that input's shape.
The docstring of each `backward` says what it computes, with which shapes,
and what `forward` saved; the derivation is on the documentation page
named at the top of the file.

| # | exercise | file | classes |
| --- | --- | --- | --- |
{rows}

## Checking your work

From this folder:

    minitransformer exercises check .                 # every exercise
    minitransformer exercises check . --exercise 3    # just one

For each exercise the grader runs a fixed set of small edge cases (reduced
axes in the middle, broadcasting on both sides, non-square matrices,
ignored targets, repeated ids...), then random inputs; it compares your
forward with a reference and your gradients with finite differences,
(L(x + eps) - L(x - eps)) / (2 eps), and prints PASS, FAIL with the first
failing case (its shapes and, for a small one, its values and the upstream
gradient, the element whose gradient is wrong, your value and the numeric
one), or "not attempted yet" while the
`raise NotImplementedError` is still there.  It exits with status 0 once
every exercise checked passes.

## Hints

There are none up front: try first.  When a check fails, the grader prints
the failing case (small inputs you can redo by hand, the upstream gradient,
the expected and your gradient) and a hint for that exercise.
"""


def make_exercises(out_dir, force: bool = False, exercises=None) -> list:
    """Write the student version of ``exercises`` (default: all) to ``out_dir``.

    Refuses (FileExistsError) a folder that is not empty unless ``force``,
    which overwrites the files it writes and leaves others alone.  Returns
    the paths written: one module per exercise and README.md.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"cannot write the exercises to {out}: it is a file, not a folder")
    if out.exists() and any(out.iterdir()) and not force:
        raise FileExistsError(f"cannot write the exercises to {out}: the folder is not empty; choose a "
                              "new one, or pass --force (force=True) to overwrite the exercise files in it")
    chosen = select(exercises) if exercises else list(EXERCISES)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for ex in chosen:
        path = out / ex.filename
        path.write_text(exercise_text(ex), encoding="utf-8")
        written.append(path)
    readme = out / "README.md"
    readme.write_text(readme_text(chosen), encoding="utf-8")
    return written + [readme]
