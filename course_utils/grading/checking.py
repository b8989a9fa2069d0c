"""The machinery behind every exercise checker (the checkers themselves are in ``checks``).

A checker runs the learner's function on several seeded cases, compares each output with a
reference implementation and returns a :class:`CheckResult`. It never raises because of the
learner's code: exceptions (``SystemExit`` from a call of ``exit()`` included; only
``KeyboardInterrupt`` goes through, so that the learner can stop a check), ``None``, NaN, results
that cannot even be converted or compared, wrong shapes or dtypes and in-place changes of the
inputs all become a failed result with a message that says what went wrong and where.
"""

from __future__ import annotations

import copy
import functools
import html
import math
import os
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from course_utils.env import isolated_run
from course_utils.errors import LEARNER_ERRORS, learner_frame

PASSED, FAILED, NOT_ATTEMPTED = "passed", "failed", "not attempted"
SHOWN = "shown"  # a "predict, then run" outcome: shown to the learner, never graded
# Set by the grader in the notebook's kernel: a design checker (one that trains the learner's
# model) then leaves the training to the grader's own fresh-process check instead of doing it
# twice. Only the in-kernel feedback is skipped; the grade never comes from the kernel.
DEFER_ENV = "COURSE_DEFER_DESIGN_CHECKS"

# Tolerances by dtype: float32 carries about 7 significant digits, float64 about 16.
TOLERANCES = {np.dtype(np.float32): (1e-4, 1e-5), np.dtype(np.float64): (1e-7, 1e-9)}


@dataclass
class CheckResult:
    """Outcome of one checker call; truthy if and only if the learner's function is correct."""

    exercise: str
    status: str
    message: str
    cases_run: int = 0
    cases_total: int = 0

    def __bool__(self) -> bool:
        return self.status == PASSED

    def __repr__(self) -> str:
        return f"CheckResult({self.exercise!r}, {self.status!r})"


@dataclass
class Case:
    """One call of the learner's function: positional arguments and a description for humans.

    ``raises``: the stub says the function must raise this exception on these arguments (an
    edge case such as T < k); the case passes when it does, and the reference is not called.
    """

    args: tuple
    description: str
    kwargs: dict = field(default_factory=dict)
    raises: type[Exception] | None = None


@dataclass
class Diagnosis:
    """A known wrong implementation and the hint to give when the learner's output matches it."""

    wrong: Callable
    hint: str


class Mismatch(Exception):
    """Raised inside the comparison with a message meant for the learner."""


# ---------------------------------------------------------------------------------------------
# Own work: a learner's function must not hand the job to the course's own implementation.

# exercise name -> the course functions that compute its answer (or its main part), as
# "module.qualname"; filled by ``course_utils.grading.checks.course_answers``. The checker's
# reference is always added. Names, not objects, so that nothing here imports torch.
COURSE_ANSWERS: dict[str, tuple[str, ...]] = {}


def qualified_name(fn: Any) -> str | None:
    """``module.qualname`` of a Python function (of the function behind a bound method)."""
    fn = getattr(fn, "__func__", fn)
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", None)
    return f"{module}.{qualname}" if module and qualname else None


class CourseCallWatch:
    """Notes the first watched function that runs while the ``with`` block runs.

    Watching code that runs, not reading the learner's source, catches every route to it: the
    function object itself, an alias imported under another name, a lambda, a closure, a helper
    of the learner's that calls it, a ``functools.partial``. It uses ``sys.setprofile`` (this
    thread, and threads started inside the block); an earlier profiler is restored afterwards.
    A watched function is recognised by its module's ``__name__`` and its ``co_qualname``.

    It is a guard against the honest shortcut, not a sandbox: code that switches the profiler
    off is reported (``tampered``), but a thread started before the block, a forked process or a
    copy of the course's source code run under another name is not seen. The grade's trust
    model (README, "What the grade guarantees") says the same.
    """

    def __init__(self, names: Sequence[str], functions: Sequence[Callable] = ()):
        # "module.prefix*" watches every function of that module whose qualname starts with prefix
        self.names = frozenset(n for n in names if not n.endswith("*"))
        self.prefixes = tuple(n[:-1] for n in names if n.endswith("*"))
        # functions given as objects are matched by their code object: exact even for lambdas,
        # which share a qualname with every other lambda of their scope
        self.codes = {code: qualified_name(fn) for fn in functions for code in _codes(fn)}
        self.active = bool(self.names or self.prefixes or self.codes)
        self.hit: str | None = None
        self.tampered = False

    def _profile(self, frame, event, arg):
        if event == "call" and self.hit is None:
            code = frame.f_code
            if code in self.codes:
                self.hit = self.codes[code]
                return
            name = f"{frame.f_globals.get('__name__')}.{code.co_qualname}"
            if name in self.names or (self.prefixes and name.startswith(self.prefixes)):
                self.hit = name

    @property
    def verdict(self) -> str | None:
        """The own-work failure message, or None when the call did its own work."""
        if self.hit:
            return own_work_message(self.hit)
        if self.tampered:
            return ("your function switched off the checker's watch (sys.setprofile): the check "
                    "cannot tell whose code ran. Leave the profiler alone.")
        return None

    def __enter__(self) -> CourseCallWatch:
        self._before = sys.getprofile(), threading.getprofile()
        if self.active:
            sys.setprofile(self._profile)
            threading.setprofile(self._profile)
        return self

    def __exit__(self, *exc_info) -> None:
        if self.active:
            # a bound method is a new object each time: compare what it wraps
            now = sys.getprofile()
            self.tampered = getattr(now, "__func__", None) is not CourseCallWatch._profile or \
                getattr(now, "__self__", None) is not self
        sys.setprofile(self._before[0])
        threading.setprofile(self._before[1])


def _codes(fn: Any) -> list:
    """The code objects that run when ``fn`` is called (through wrappers and bound methods)."""
    codes, seen = [], set()
    while fn is not None and id(fn) not in seen:
        seen.add(id(fn))
        fn = getattr(fn, "__func__", fn)
        if getattr(fn, "__code__", None) is not None:
            codes.append(fn.__code__)
        fn = getattr(fn, "__wrapped__", None)
    return codes


def _shape_hint(exc: BaseException) -> str:
    """A hint for the most common crash: a matrix product whose inner sizes differ."""
    text = str(exc)
    if isinstance(exc, ValueError) and ("matmul" in text or "not aligned" in text):
        return ("\n   hint: a matrix product got operands whose inner sizes differ. Print the "
                "shapes; the checker's shapes are deliberately not square. PyTorch stores a "
                "weight as (out, in), so a batch of rows multiplies its transpose: x @ W.T.")
    return ""


def own_work_message(name: str) -> str:
    """The failure message for a learner function that calls the course's ``name``."""
    return (f"your function calls `{name}`, the course's own implementation of this answer. "
            "Write it yourself: NumPy and your own functions are fine (the exercise says what "
            "else you may call).")


def report(result: CheckResult) -> CheckResult:
    """Show ``result`` to the learner; return it unchanged.

    The one place where a result is formatted and printed: every checker ends here.
    """
    icon = {PASSED: "\u2705", FAILED: "\u274c", NOT_ATTEMPTED: "\u23f3"}[result.status]
    _show(result.status, f"{icon} {result.exercise}: {result.message}")
    return result


# Feedback at a glance: in a notebook the line is shown in a coloured box (green pass, red
# fail with its hint set apart, grey not attempted); terminals and text readers get the line.
_BOX = {PASSED: ("#2e7d32", "#e8f5e9"), FAILED: ("#c62828", "#ffebee"),
        NOT_ATTEMPTED: ("#757575", "#f3f3f3"), SHOWN: ("#1565c0", "#e3f2fd")}


class _Feedback:
    """A check result for IPython's rich display: ``text/plain`` is exactly the printed line."""

    def __init__(self, status: str, text: str):
        self.status, self.text = status, text

    def __repr__(self) -> str:
        return self.text

    def _repr_html_(self) -> str:
        border, background = _BOX[self.status]
        line, _, hint = self.text.partition("\n   hint: ")
        body = html.escape(line).replace("\n", "<br>")
        if hint:
            body += ('<div style="margin-top: 6px; padding: 4px 8px; background: #fff8e1; '
                     'border-left: 3px solid #f9a825">hint: ' + html.escape(hint) + "</div>")
        return (f'<div style="border-left: 6px solid {border}; background: {background}; '
                'color: #1b1b1b; padding: 6px 10px; margin: 2px 0; border-radius: 3px; '
                f'white-space: pre-wrap; font-family: monospace">{body}</div>')


def _show(status: str, text: str) -> None:
    """Display the line as a coloured box under IPython (text/plain stays the line), else print."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython is always installed with the course
        get_ipython = None
    if get_ipython is None or get_ipython() is None:
        print(text)
    else:
        display(_Feedback(status, text))


def _fmt(v: float) -> str:
    if isinstance(v, (bool, np.bool_)):
        return str(v)
    v = float(v)
    if math.isnan(v) or math.isinf(v):
        return str(v)
    return f"{v:.6g}"


def _tolerance(expected: np.ndarray, rtol: float | None, atol: float | None):
    base_rtol, base_atol = TOLERANCES.get(expected.dtype, (1e-7, 1e-9))
    rtol = base_rtol if rtol is None else rtol
    atol = base_atol if atol is None else atol
    scale = float(np.max(np.abs(expected))) if expected.size else 1.0
    return rtol, atol * max(1.0, scale)


def compare_arrays(got: Any, expected: Any, name: str, *, rtol=None, atol=None,
                   check_dtype: bool = True) -> None:
    """Raise :class:`Mismatch` describing the first difference between ``got`` and ``expected``.

    ``expected`` may be an array, a float, a tuple of those, or a dict of those. A ``got`` that
    raises while it is read (its ``__array__``, ``__float__``, ``__eq__``, ...) is a Mismatch too.
    """
    try:
        _compare(got, expected, name, rtol=rtol, atol=atol, check_dtype=check_dtype)
    except Mismatch:
        raise
    except LEARNER_ERRORS as exc:
        raise Mismatch(f"{name}: your result ({type(got).__name__}) could not be read: "
                       f"{type(exc).__name__}: {exc}") from exc


def _compare(got: Any, expected: Any, name: str, *, rtol=None, atol=None,
             check_dtype: bool = True) -> None:
    if isinstance(expected, tuple):
        if not isinstance(got, (tuple, list)):
            raise Mismatch(f"{name}: expected a tuple of {len(expected)} values, got "
                           f"{type(got).__name__}")
        if len(got) != len(expected):
            raise Mismatch(f"{name}: expected a tuple of {len(expected)} values, got "
                           f"{len(got)}")
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            _compare(g, e, f"{name}[{i}]", rtol=rtol, atol=atol, check_dtype=check_dtype)
        return
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            raise Mismatch(f"{name}: expected a dict with keys {sorted(expected)}, got "
                           f"{type(got).__name__}")
        if set(got) != set(expected):
            missing, extra = set(expected) - set(got), set(got) - set(expected)
            raise Mismatch(f"{name}: wrong keys (missing {sorted(missing)}, "
                           f"unexpected {sorted(extra)})")
        for k in expected:
            _compare(got[k], expected[k], f"{name}[{k!r}]", rtol=rtol, atol=atol,
                     check_dtype=check_dtype)
        return
    if isinstance(expected, (float, int)) and not isinstance(expected, bool):
        try:
            g = float(np.asarray(got).item()) if got is not None else None
        except (TypeError, ValueError):
            g = None
        if g is None:
            raise Mismatch(f"{name}: expected a number, got {type(got).__name__}")
        if math.isnan(g) and math.isnan(expected):  # NaN where NaN is expected, as for arrays
            return
        if math.isnan(g):
            raise Mismatch(f"{name}: got NaN, expected {_fmt(expected)}")
        r, a = _tolerance(np.asarray(float(expected)), rtol, atol)
        if not math.isclose(g, float(expected), rel_tol=r, abs_tol=a):
            raise Mismatch(f"{name}: expected {_fmt(expected)}, got {_fmt(g)}")
        return
    # arrays
    if got is None:
        raise Mismatch(f"{name}: got None; did you forget a `return`?")
    if not isinstance(got, np.ndarray):
        kind = type(got).__name__
        raise Mismatch(f"{name}: expected a NumPy array, got {kind}"
                       + (" (convert with np.asarray)" if kind in ("list", "tuple") else ""))
    if got.shape != expected.shape:
        raise Mismatch(f"{name}: wrong shape {got.shape}, expected {expected.shape}")
    if check_dtype and got.dtype != expected.dtype:
        raise Mismatch(f"{name}: dtype {got.dtype}, expected {expected.dtype} "
                       "(keep the dtype of the inputs)")
    if not np.issubdtype(got.dtype, np.number) and got.dtype != np.bool_:
        raise Mismatch(f"{name}: dtype {got.dtype} is not numeric")
    if np.iscomplexobj(got) and not np.iscomplexobj(expected):
        raise Mismatch(f"{name}: complex values (dtype {got.dtype}); expected real numbers")
    gotf, expf = got.astype(np.float64), expected.astype(np.float64)
    bad_nan = ~np.isfinite(gotf) & np.isfinite(expf)
    if bad_nan.any():
        idx = tuple(int(i) for i in np.argwhere(bad_nan)[0])
        raise Mismatch(f"{name}: {int(bad_nan.sum())} non-finite value(s), first at {list(idx)}: "
                       f"got {_fmt(gotf[idx])}, expected {_fmt(expf[idx])}")
    r, a = _tolerance(expected, rtol, atol)
    close = np.isclose(gotf, expf, rtol=r, atol=a, equal_nan=True)
    if not close.all():
        err = np.where(close, 0.0, np.abs(gotf - expf))
        idx = tuple(int(i) for i in np.unravel_index(np.argmax(err), err.shape))
        raise Mismatch(f"{name}: {int((~close).sum())} of {close.size} elements differ; worst at "
                       f"{list(idx)}: expected {_fmt(expf[idx])}, got {_fmt(gotf[idx])} "
                       f"(abs error {err[idx]:.2e})")


def _changed_inputs(before: Sequence, after: Sequence, names: Sequence[str]) -> str | None:
    """Name of the first argument the learner's function modified in place, if any."""

    def same(a, b) -> bool:
        if isinstance(a, np.ndarray):
            return isinstance(b, np.ndarray) and a.shape == b.shape and np.array_equal(
                a, b, equal_nan=np.issubdtype(a.dtype, np.floating))
        if isinstance(a, dict):
            return isinstance(b, dict) and a.keys() == b.keys() and all(
                same(a[k], b[k]) for k in a)
        if isinstance(a, (tuple, list)):
            return (isinstance(b, (tuple, list)) and len(a) == len(b)
                    and all(same(x, y) for x, y in zip(a, b, strict=True)))
        if callable(a):  # a function argument (numerical_gradient's f) is not data
            return True
        try:  # strings and numbers inside nested lists: docs' tokens, a layer's (k, s) pairs
            return bool(a == b) or (a != a and b != b)  # NaN stays NaN
        except LEARNER_ERRORS:  # no usable == (an object the learner put there): cannot tell
            return True

    for name, a, b in zip(names, before, after, strict=False):
        if not same(a, b):
            return name
    return None


def diagnose(got: Any, diagnoses: Sequence[Diagnosis], args: tuple, kwargs: dict,
             output_name: str, *, rtol=None, atol=None) -> str | None:
    """The hint of the first known mistake whose output matches ``got`` on ``args``, or None.

    Only a :class:`Mismatch` means "not this mistake"; any other exception is a bug in the
    diagnosis and is raised (the tests run every wrong variant on every case).
    """
    for diag in diagnoses:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            wrong = diag.wrong(*copy.deepcopy(args), **kwargs)
            try:
                compare_arrays(got, wrong, output_name, rtol=rtol, atol=atol, check_dtype=False)
            except Mismatch:
                continue
        return diag.hint
    return None


def run_check(exercise: str, fn: Any, cases: Sequence[Case], reference: Callable, *,
              arg_names: Sequence[str], output_name: str = "output",
              diagnoses: Sequence[Diagnosis] = (), rtol: float | None = None,
              atol: float | None = None, check_dtype: bool = True,
              promise: Callable[[tuple, Any], str | None] | None = None,
              success_note: str = "") -> CheckResult:
    """Run ``fn`` on every case, compare it with ``reference`` and report.

    ``reference`` and every ``Diagnosis.wrong`` take the same arguments as ``fn``.
    ``promise(args, output)`` (``args`` as the function received them) checks what the stub
    states beyond the values (a Python float, new arrays rather than the inputs, ...): it
    returns a sentence when the output breaks the stub, else None, and runs once the values
    are right.
    """
    total = len(cases)
    watched = COURSE_ANSWERS.get(exercise, ())
    if not callable(fn):
        return report(CheckResult(exercise, FAILED, f"expected a function, got "
                                  f"{type(fn).__name__}", 0, total))
    for number, case in enumerate(cases, start=1):
        pristine = copy.deepcopy(case.args)
        learner_args = copy.deepcopy(case.args)
        where = f"case {number} of {total} ({case.description})"
        watch = CourseCallWatch(watched, [reference])
        error: BaseException | None = None
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"), watch:
                warnings.simplefilter("ignore")
                got = fn(*learner_args, **case.kwargs)
        except LEARNER_ERRORS as exc:  # the learner's bug (or exit()), reported below
            error = exc
        if watch.verdict:  # whatever else happened, the course's code did the work
            return report(CheckResult(exercise, FAILED, watch.verdict, number - 1, total))
        if isinstance(error, NotImplementedError):
            return report(CheckResult(exercise, NOT_ATTEMPTED,
                                      "not attempted yet: replace the `raise NotImplementedError` "
                                      "line with your code, then run this cell again.",
                                      number - 1, total))
        if error is not None:
            if case.raises is not None and isinstance(error, case.raises):
                continue
            called_exit = (" (it called exit(); a function gives its result with `return`)"
                           if isinstance(error, SystemExit) else "")
            return report(CheckResult(exercise, FAILED,
                                      f"{where}: your function raised {type(error).__name__}: "
                                      f"{error}{called_exit}{learner_frame(error)}"
                                      f"{_shape_hint(error)}", number - 1, total))
        if case.raises is not None:
            shape = getattr(got, "shape", None)
            return report(CheckResult(
                exercise, FAILED, f"{where}: the stub says to raise {case.raises.__name__} "
                f"here, but your function returned {type(got).__name__}"
                f"{'' if shape is None else f' of shape {shape}'}.", number - 1, total))
        expected = reference(*copy.deepcopy(pristine), **case.kwargs)
        try:
            compare_arrays(got, expected, output_name, rtol=rtol, atol=atol,
                           check_dtype=check_dtype)
        except Mismatch as mis:
            message = f"{where}: {mis}"
            hint = diagnose(got, diagnoses, pristine, case.kwargs, output_name, rtol=rtol,
                            atol=atol)
            if hint is not None:
                message += f"\n   hint: {hint}"
            return report(CheckResult(exercise, FAILED, message, number - 1, total))
        try:
            problem = promise(learner_args, got) if promise is not None else None
        except LEARNER_ERRORS as exc:  # e.g. a result whose repr raises
            problem = f"your result could not be read ({type(exc).__name__}: {exc})"
        if problem:
            return report(CheckResult(exercise, FAILED, f"{where}: the values are right, but "
                                      f"{problem}", number - 1, total))
        changed = _changed_inputs(pristine, learner_args, arg_names)
        if changed is not None:
            return report(CheckResult(exercise, FAILED,
                                      f"{where}: the output is right, but your function changed "
                                      f"its input `{changed}` in place; work on a copy instead.",
                                      number - 1, total))
    note = f" {success_note}" if success_note else ""
    return report(CheckResult(exercise, PASSED, f"all {total} cases passed.{note}", total, total))



def design_checker(checker: Callable[..., CheckResult]) -> Callable[..., CheckResult]:
    """Mark ``checker`` as a design checker: it trains the learner's model against a target.

    It gets ``design = True`` (its feedback is a measurement, not a comparison with a reference,
    so the hint tests leave it out) and runs inside :func:`course_utils.env.isolated_run` (one
    thread, a forked random stream: the learner's random state and thread count are as they
    were afterwards). Under the grader (``COURSE_DEFER_DESIGN_CHECKS=1`` in the kernel) it reports
    that the grader runs it and returns at once.
    """

    @functools.wraps(checker)
    def wrapper(fn, *args, **kwargs) -> CheckResult:
        if os.environ.get(DEFER_ENV) == "1":
            return report(CheckResult(checker.__name__, NOT_ATTEMPTED,
                                      "left to the grader, which runs this check itself in a "
                                      "fresh process."))
        with isolated_run():
            return checker(fn, *args, **kwargs)

    wrapper.design = True
    return wrapper


# ---------------------------------------------------------------------------------------------
# "Predict, then run": the learner commits to a number or a choice, an experiment answers.


@dataclass
class PredictionResult:
    """How a prediction compares with an experiment; truthy if it was close. Never graded."""

    exercise: str
    predicted: Any
    actual: Any
    close: bool | None  # None: no usable prediction yet
    message: str

    def __bool__(self) -> bool:
        return bool(self.close)

    def __repr__(self) -> str:
        return f"PredictionResult({self.exercise!r}, close={self.close!r})"


def _read_prediction(exercise: str, fn: Any, choices: Sequence[str] | None):
    """(value, None) for a usable prediction, or (None, reason) when there is none.

    The learner's function runs under the own-work watch: a "prediction" that calls the
    experiment (the course functions listed for ``exercise``) is no prediction.
    """
    watch = CourseCallWatch(COURSE_ANSWERS.get(exercise, ()))
    error: BaseException | None = None
    try:
        with watch:  # the value is made a plain str or float inside the watch, so that a number
            # whose __float__ runs the experiment is seen too
            value = _plain(fn() if callable(fn) else fn, choices)
    except LEARNER_ERRORS as exc:  # the learner's bug (or exit()), reported rather than raised
        error = exc
    if watch.hit:
        return None, _peeked(watch.hit)
    if watch.tampered:
        return None, watch.verdict
    if isinstance(error, NotImplementedError):
        return None, ("no prediction yet: replace the `raise NotImplementedError` line with "
                      "`return` and your prediction, then run this cell again.")
    if isinstance(error, _Unusable):
        return None, str(error)
    if error is not None:
        return None, (f"your prediction function raised {type(error).__name__}: {error}"
                      f"{learner_frame(error)}")
    return value, None


class _Unusable(Exception):
    """A prediction of the wrong kind; its message is meant for the learner."""


def _plain(value: Any, choices: Sequence[str] | None):
    """The prediction as a plain lower-case str (a choice) or a plain finite float."""
    if choices is not None:
        if not isinstance(value, str) or str(value).strip().lower() not in choices:
            raise _Unusable(f"expected one of {', '.join(repr(c) for c in choices)}, "
                            f"got {value!r}")
        return str(value).strip().lower()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise _Unusable(f"expected a number, got {type(value).__name__} {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise _Unusable(f"expected a finite number, got {value!r}")
    return number


def _peeked(name: str) -> str:
    return (f"your prediction calls `{name}`, which runs the experiment itself. Commit to a "
            "number of your own first: the point is to compare it with the measurement.")


def check_prediction(exercise: str, fn: Any, actual: Any, *,
                     choices: Sequence[str] | None = None, rel_tol: float = 0.25,
                     abs_tol: float = 0.0, unit: str = "") -> PredictionResult:
    """Show the learner's prediction next to the experiment's result ``actual``.

    ``fn`` returns the prediction (or is the value itself): a number, compared with ``actual``
    within ``max(rel_tol * |actual|, abs_tol)``, or, when ``choices`` is given, one of those
    strings (case and surrounding spaces ignored). ``actual`` may be the experiment itself, a
    function of no arguments: it then runs only after a usable prediction has been read, so
    nothing it computes can reach the learner, and without a prediction it never runs (the
    result's ``actual`` is then None). The outcome is displayed in a blue box and returned; it is
    never recorded for the grader, because a prediction is not pass/fail.
    """
    choices = None if choices is None else [c.lower() for c in choices]
    value, problem = _read_prediction(exercise, fn, choices)
    if callable(actual):
        actual = actual() if problem is None else None
    head = f"\U0001F52D {exercise} (a prediction, not graded): "
    if problem is not None:
        result = PredictionResult(exercise, None, actual, None, problem)
    elif choices is not None:
        close = value == str(actual).lower()
        verdict = "the experiment agrees." if close else f"the experiment says {actual!r}."
        result = PredictionResult(exercise, value, actual, close,
                                  f"you predicted {value!r}; {verdict}")
    else:
        a = float(actual)
        close = abs(value - a) <= max(rel_tol * abs(a), abs_tol)
        text = f"you predicted {_fmt(value)}{unit}; the experiment measured {_fmt(a)}{unit}"
        if close:
            text += " (close)."
        elif value != 0 and a != 0 and (value > 0) == (a > 0):
            ratio = a / value
            text += (f", {ratio:.3g}\u00d7 your prediction." if ratio >= 1
                     else f", {1 / ratio:.3g}\u00d7 smaller than your prediction.")
        else:
            text += "."
        result = PredictionResult(exercise, value, a, close, text)
    tail = "" if result.close is None else " The solution notebook explains the outcome."
    _show(SHOWN if result.close is not None else NOT_ATTEMPTED, head + result.message + tail)
    return result
