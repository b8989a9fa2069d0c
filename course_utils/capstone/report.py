"""Tables and figures of the capstone: one run (a list of ``Result``), the multi-seed record
(``{(task, model): Spread}``) and the recipe."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from course_utils.capstone.record import Spread, compare
from course_utils.capstone.suite import (
    ADDING_VARIANCE_BASELINE,
    BASELINES,
    MODEL_NAMES,
    MODEL_TITLES,
    REFERENCES,
    TASK_NAMES,
    TASK_TITLES,
)


def fmt_metric(value: float, metric_name: str) -> str:
    """An accuracy as "74.5 %", an MSE as "0.0042", a non-finite value as "diverged"."""
    if not math.isfinite(value):
        return "diverged"
    return f"{100 * value:.1f} %" if metric_name == "accuracy" else f"{value:.4f}"


def fmt_params(n: int) -> str:
    return f"{n / 1e6:.2f} M" if n >= 1e6 else f"{n / 1e3:.1f} k" if n >= 1e3 else str(n)


def short_title(model: str) -> str:
    return "linear" if model == "tfidf" else MODEL_TITLES.get(model, model)


def lookup(results: Sequence, task: str, model: str):
    """The result of ``model`` on ``task`` in a list of results."""
    for r in results:
        if r.task == task and r.model == model:
            return r
    raise KeyError(f"no result for {model!r} on {task!r}")


def results_table(results: Sequence, tasks: dict | None = None) -> str:
    """A Markdown table, one row per (task, model): test metric, parameters, epochs run (best
    validation epoch), CPU seconds, published number.

    tasks: loaded tasks by name, to print each task's trivial level (majority class / variance)
    in its first row.
    """
    head = ("| task | model | test accuracy / MSE | parameters | epochs (best) | CPU s | "
            "published reference (other set-up) |\n|---|---|---:|---:|---:|---:|---|")
    rows = [head]
    for r in results:
        ref = REFERENCES.get((r.task, r.model))
        ref_txt = f"{fmt_metric(ref.value, r.metric_name)}: {ref.source}" if ref else ""
        if r.task == "adding" and r.model == "tfidf":
            ref_txt = (f"{ADDING_VARIANCE_BASELINE:.3f}: variance baseline (predict 1.0); "
                       "Le et al. (2015)'s variant of Hochreiter & Schmidhuber (1997)")
        model = BASELINES[r.task] if r.model == "tfidf" else MODEL_TITLES.get(r.model, r.model)
        task_txt = TASK_TITLES[r.task]
        if tasks and r.task in tasks and r.model == results[0].model:
            trivial = tasks[r.task].trivial
            label = "majority class" if r.metric_name == "accuracy" else "predict the mean"
            task_txt += f" ({label}: {fmt_metric(trivial, r.metric_name)})"
        epochs = getattr(r, "setting", "") or f"{r.epochs} ({r.best_epoch})"
        rows.append(f"| {task_txt} | {model} | {fmt_metric(r.metric, r.metric_name)} | "
                    f"{fmt_params(r.params)} | {epochs} | {r.cpu_seconds:.1f} | {ref_txt} |")
    return "\n".join(rows)


def fmt_spread(s: Spread) -> str:
    """ "74.1 ± 0.6 %" or "0.0031 ± 0.0010" (mean ± standard deviation over seeds)."""
    if not all(math.isfinite(v) for v in s.values):
        return "diverged in some seeds"
    if s.metric_name == "accuracy":
        return f"{100 * s.mean:.1f} ± {100 * s.sd:.1f} %"
    return f"{s.mean:.4f} ± {s.sd:.4f}"


def spread_table(spread: dict, task_names=TASK_NAMES, model_names=MODEL_NAMES) -> str:
    """A Markdown table of the multi-seed record: one row per task, mean ± sd per model, and
    the number of seeds."""
    head = ("| task (seeds) | " + " | ".join(short_title(m) for m in model_names) + " |\n"
            "|---|" + "---:|" * len(model_names))
    rows = [head]
    for t in task_names:
        cells = [fmt_spread(spread[(t, m)]) for m in model_names]
        n = min(spread[(t, m)].n for m in model_names)
        rows.append(f"| {TASK_TITLES[t]} ({n}) | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def verdict_line(spread: dict, task: str, a: str, b: str) -> str:
    """One comparison by :func:`~course_utils.capstone.record.compare`, as a sentence fragment."""
    c = compare(spread[(task, a)], spread[(task, b)])
    unit, scale = ("points", 100) if spread[(task, a)].metric_name == "accuracy" else ("", 1)
    word = {1: "better than", -1: "worse than", 0: "not distinguishable from"}[c.sign]
    return (f"{short_title(a)} {word} {short_title(b)} (difference {scale * c.diff:+.2f} {unit}, "
            f"SE {scale * c.se:.2f}, bar t x SE = {c.t:.2f} x SE = {scale * c.threshold:.2f} "
            f"{unit})").replace("  ", " ").replace(" )", ")").replace(" ,", ",")


def init_note(model: str, config) -> str:
    """How a model's weights start, where the recipe departs from the usual advice."""
    if model == "lstm":
        if config.forget_bias is None:
            return ("PyTorch default: forget bias b_ih + b_hh near 0 (each uniform in "
                    "±1/√H), not chapter 06's +1")
        return f"forget bias {config.forget_bias:g}"
    return "PyTorch default"


def recipe_table(profile, tasks: dict | None = None, params: dict | None = None) -> str:
    """A Markdown table of the recipe: per task and neural model, optimiser, batch size,
    learning rate, clipping, the most epochs, the stopping rule, the initialisation, and (if
    given) parameters."""
    head = ("| task | model | optimiser | batch | learning rate | clip | max epochs | "
            "stop on validation | initial weights | parameters |\n"
            "|---|---|---|---:|---:|---:|---:|---|---|---:|")
    rows = [head]
    for t in TASK_NAMES:
        for m in MODEL_NAMES[1:]:
            c = profile.config(t, m)
            stop = []
            if c.val_target is not None:
                kind = "mse" if t == "adding" else "accuracy"
                stop.append(f"reaches {fmt_metric(c.val_target, kind)}")
            if c.patience is not None:
                stop.append(f"{c.patience} epoch(s) without gain")
            p = fmt_params(params[(t, m)]) if params and (t, m) in params else ""
            rows.append(f"| {TASK_TITLES[t]} | {MODEL_TITLES[m]} | Adam | {c.batch_size} | "
                        f"{c.lr:g} | {c.clip if c.clip is not None else '-'} | {c.epochs} | "
                        f"{'; '.join(stop) or '-'} | {init_note(m, c)} | {p} |")
    return "\n".join(rows)


def _panel(ax, task: str, values: dict, trivial: float | None, metric_name: str, spread=False):
    """Dots per model: every seed small, the mean large with a ±sd bar (or one dot per run)."""
    from course_utils.plotting import MODEL_COLORS

    regression = metric_name == "mse"
    scale = 1 if regression else 100
    note = ""
    models = [m for m in MODEL_NAMES if m in values]
    for x, m in enumerate(models):
        vals = np.array([scale * v for v in values[m] if math.isfinite(v)])
        color = MODEL_COLORS.get(m, "grey")
        if len(vals) == 0:
            ax.text(x, 0.5, "diverged", transform=ax.get_xaxis_transform(), ha="center",
                    fontsize=7, rotation=90)
            continue
        if spread and len(vals) > 1:
            jitter = np.linspace(-0.12, 0.12, len(vals))
            ax.scatter(x + jitter, vals, s=10, color=color, alpha=0.6, zorder=3)
            sd = vals.std(ddof=1)
            if regression:   # on a log axis show the range of the seeds, not mean ± sd
                ax.vlines(x + 0.22, vals.min(), vals.max(), color=color, lw=2)
            else:
                ax.errorbar(x + 0.22, vals.mean(), yerr=sd, fmt="o", color=color, ms=6,
                            capsize=3, zorder=4)
        else:
            ax.scatter([x], vals, s=45, color=color, zorder=3)
    ax.set_xticks(range(len(models)), [short_title(m) for m in models], rotation=30)
    ax.set_xlim(-0.6, len(models) - 0.4)
    if trivial is not None:
        label = "predict the mean" if regression else "majority class"
        finite = [scale * v for m in models for v in values[m] if math.isfinite(v)]
        if regression or not finite or scale * trivial >= min(finite) - 10:
            ax.axhline(scale * trivial, color="grey", ls=":", lw=1, label=label)
        else:   # far below every model: a note, so that the axis is not stretched down to it
            note = f"{label} {fmt_metric(trivial, metric_name)}: below the axis"
    for (rt, rm), ref in REFERENCES.items():
        if rt == task:
            # grey, not the model's colour: a published number on other data, not our model
            ax.axhline(scale * ref.value, color="dimgrey", ls="--" if rm == "tfidf" else "-.", lw=1,
                       label=f"{MODEL_TITLES[rm] if rm != 'tfidf' else 'NBSVM'} on MR (other data)")
    if regression:
        ax.set_yscale("log")
        ax.set_ylabel("test MSE, log scale (lower is better)")
    else:
        ax.set_ylabel("test accuracy % (higher is better)")
    ax.set_title(TASK_TITLES[task] + (f"\n({note})" if note else ""), fontsize=9)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="best")


def _axes(n: int, axes, height: float = 3.6):
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, n, figsize=(3.3 * n, height), squeeze=False)
        axes = axes[0]
    return axes


def plot_results(results: Sequence, tasks: dict | None = None, axes=None):
    """One panel per task: the test metric of each model of one run as a dot, the trivial level
    and published numbers as horizontal lines (log scale for the adding problem's MSE). No bars:
    a bar's length means nothing on a log axis. Returns the axes."""
    task_names = list(dict.fromkeys(r.task for r in results))
    axes = _axes(len(task_names), axes)
    for ax, t in zip(axes, task_names, strict=False):
        rs = [r for r in results if r.task == t]
        trivial = tasks[t].trivial if tasks and t in tasks else None
        _panel(ax, t, {r.model: [r.metric] for r in rs}, trivial, rs[0].metric_name)
    return axes


def plot_spreads(spread: dict, tasks: dict | None = None, axes=None, live: Sequence = ()):
    """One panel per task of the multi-seed record: every seed as a small dot, mean ± sd beside
    it (the range of the seeds for the log-scale MSE); ``live`` results as black crosses."""
    task_names = list(dict.fromkeys(t for t, _ in spread))
    axes = _axes(len(task_names), axes, 4.6)
    for ax, t in zip(axes, task_names, strict=False):
        values = {m: spread[(t, m)].values for (tt, m) in spread if tt == t}
        metric_name = next(spread[(t, m)].metric_name for m in values)
        trivial = tasks[t].trivial if tasks and t in tasks else None
        _panel(ax, t, values, trivial, metric_name, spread=True)
        models = [m for m in MODEL_NAMES if m in values]
        for r in live:
            if r.task == t and r.model in models:
                y = r.metric if metric_name == "mse" else 100 * r.metric
                ax.scatter([models.index(r.model)], [y], marker="x", color="black", s=30,
                           zorder=5, label="this run" if r.model == models[0] else None)
        if ax.get_legend_handles_labels()[0]:   # below the panel, clear of every dot and line
            ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
    return axes


def plot_curves(results: Sequence, tasks: dict | None = None, axes=None):
    """One panel per task: the **validation** metric after every epoch of each neural model
    (the curve the stopping rule watched; a ring marks the epoch whose weights were tested),
    with the linear baseline's validation metric as a horizontal line. Returns the axes."""
    from matplotlib.ticker import MaxNLocator

    from course_utils.plotting import MODEL_COLORS

    task_names = list(dict.fromkeys(r.task for r in results))
    axes = _axes(len(task_names), axes, 3.2)
    for ax, t in zip(axes, task_names, strict=False):
        rs = [r for r in results if r.task == t]
        regression = rs[0].metric_name == "mse"
        scale = 1 if regression else 100
        for r in rs:
            color = MODEL_COLORS.get(r.model, "grey")
            if r.history is None:
                ax.axhline(scale * r.val_metric, color=color, ls="--", lw=1,
                           label="linear (validation)")
            elif r.history.test_metric:
                ys = [scale * v for v in r.history.test_metric]
                ax.plot(range(1, len(ys) + 1), ys, "o-", ms=3, color=color,
                        label=MODEL_TITLES[r.model])
                if 1 <= r.best_epoch <= len(ys):
                    ax.scatter([r.best_epoch], [ys[r.best_epoch - 1]], s=60,
                               facecolors="none", edgecolors=color, zorder=4)
        if regression:
            ax.set_yscale("log")
            ax.set_ylabel("validation MSE (log scale)")
        else:
            ax.set_ylabel("validation accuracy %")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(TASK_TITLES[t], fontsize=9)
    axes[0].legend(fontsize=7)
    return axes
