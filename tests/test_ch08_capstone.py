"""Tests of the capstone harness (course_utils.capstone), the speed comparison
(course_utils.speed) and the benchmark (course_utils.maintainer.bench).

They use small slices of the tasks and a few epochs, so they check the plumbing and the
contracts (shapes, seeds, timing fields, reporting), not the chapter's numbers, which chapter 08
itself asserts.
"""

import importlib
import json
import math
import time
from dataclasses import replace
from pathlib import Path

import nbformat
import numpy as np
import pytest

from course_utils import REPO_ROOT, capstone, files, speed
from course_utils.capstone import runner
from course_utils.maintainer import bench


@pytest.fixture(scope="module")
def order_task():
    return capstone.load_task("order", n_train=600, n_test=200)


@pytest.fixture(scope="module")
def adding_task():
    return capstone.load_task("adding", n_train=256, n_test=128)


# ---- tasks ------------------------------------------------------------------------------------


def test_order_task_layout(order_task):
    t = order_task
    assert t.x_train.shape == (600, capstone.SUITE_ORDER_LENGTH) and t.x_train.dtype == np.int64
    assert t.y_train.shape == (600,) and set(np.unique(t.y_train)) == {0, 1}
    assert t.kind == "classification" and t.metric_name == "accuracy"
    assert t.n_outputs == 2 and t.vocab_size == capstone.ORDER_VOCAB
    assert len(t.docs_train) == 600 and len(t.docs_train[0]) == capstone.SUITE_ORDER_LENGTH
    assert t.trivial == pytest.approx(0.5, abs=0.05)


def test_adding_task_is_batch_first_and_deterministic(adding_task):
    t = adding_task
    assert t.x_train.shape == (256, capstone.ADDING_LENGTH, 2) and t.x_train.dtype == np.float32
    assert t.kind == "regression" and t.input_dim == 2 and t.vocab_size is None
    # the target is the sum of the two marked values
    marked = (t.x_train[..., 0] * t.x_train[..., 1]).sum(axis=1)
    np.testing.assert_allclose(marked, t.y_train, rtol=1e-5)
    again = capstone.load_task("adding", n_train=256, n_test=128)
    assert np.array_equal(again.x_train, t.x_train) and np.array_equal(again.y_test, t.y_test)
    assert not np.array_equal(t.x_train[:128], t.x_test)  # train and test differ
    assert t.trivial == pytest.approx(1 / 6, abs=0.05)


def test_surnames_task_is_character_level():
    t = capstone.load_task("surnames")
    assert t.n_outputs == 10 and len(t.labels) == 10
    assert t.x_train.shape[1] == max(len(d) for d in t.docs_train)
    # padding goes in front, so the last column is always a real character
    assert (t.x_train[:, -1] != 0).all() and (t.x_test[:, -1] != 0).all()
    assert all(isinstance(c, str) and len(c) == 1 for c in t.docs_train[0])


def test_unknown_names_are_rejected(order_task):
    with pytest.raises(ValueError, match="unknown task"):
        capstone.load_task("imdb")
    with pytest.raises(ValueError, match="unknown model"):
        capstone.run(order_task, "transformer")


def test_subset_cuts_every_array(order_task):
    s = order_task.subset(10, 5)
    assert len(s.x_train) == len(s.y_train) == len(s.docs_train) == 10
    assert len(s.x_test) == len(s.y_test) == len(s.docs_test) == 5


def test_validation_split_is_fixed_disjoint_and_a_tenth(order_task):
    fit_idx, val_idx = order_task.validation_split()
    assert len(val_idx) == 60 and len(fit_idx) == 540
    assert not set(fit_idx) & set(val_idx) and set(fit_idx) | set(val_idx) == set(range(600))
    again = order_task.validation_split()
    assert np.array_equal(again[1], val_idx)
    assert not np.array_equal(order_task.validation_split(seed=8)[1], val_idx)
    assert not np.array_equal(val_idx, np.arange(540, 600))  # random, not the last rows


# ---- profiles -----------------------------------------------------------------------------


def test_profiles_cover_every_pair_and_full_trains_longer():
    for profile in (capstone.FAST, capstone.FULL):
        for t in capstone.TASK_NAMES:
            for m in capstone.MODEL_NAMES:
                assert isinstance(profile.config(t, m), capstone.Config)
    for t in capstone.TASK_NAMES:
        for m in ("cnn", "rnn", "lstm", "gru"):
            assert capstone.FULL.config(t, m).epochs > capstone.FAST.config(t, m).epochs
    # recurrent models are clipped everywhere; the adding LSTM is the benchmark's LSTM
    for t in capstone.TASK_NAMES:
        for m in capstone.RECURRENT_KINDS:
            assert capstone.FAST.config(t, m).clip is not None
    assert capstone.ADDING_BENCH_CONFIG == capstone.FAST.config("adding", "lstm")


def test_environment_variable_selects_the_full_profile(monkeypatch):
    monkeypatch.delenv(capstone.FULL_ENV, raising=False)
    assert capstone.default_profile() is capstone.FAST
    monkeypatch.setenv(capstone.FULL_ENV, "1")
    assert capstone.default_profile() is capstone.FULL
    monkeypatch.setenv(capstone.FULL_ENV, "0")
    assert capstone.default_profile() is capstone.FAST


# ---- models and runs ----------------------------------------------------------------------


@pytest.mark.parametrize("model", ["cnn", "rnn", "lstm", "gru"])
def test_models_output_shapes(order_task, adding_task, model):
    import torch

    for task, want in ((order_task, (4, 2)), (adding_task, (4,))):
        net = capstone.build_model(task, model, capstone.FAST.config(task.name, model))
        out = net(torch.as_tensor(task.x_train[:4]))
        assert tuple(out.shape) == want, (task.name, model, out.shape)


def test_build_model_is_seeded(order_task):
    import torch

    cfg = capstone.FAST.config("order", "lstm")
    a, b = (capstone.build_model(order_task, "lstm", cfg, seed=3) for _ in range(2))
    c = capstone.build_model(order_task, "lstm", cfg, seed=4)
    pa, pb, pc = (torch.cat([p.flatten() for p in m.parameters()]) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)


def test_bag_of_words_baseline_is_at_chance_on_the_order_task(order_task):
    r = capstone.run(order_task, "tfidf")
    assert r.model == "tfidf" and r.metric_name == "accuracy" and r.history is None
    assert 0.35 < r.metric < 0.65
    # one weight per token type the counts see (A, B and 12 fillers: ids 0 and 1 never occur)
    # and one bias
    assert r.params == (capstone.ORDER_VOCAB - 2) + 1
    assert r.threads == 1


def test_baseline_timings_measure_the_fit_cpu_and_wall_apart(order_task, monkeypatch):
    """wall_seconds counts a pause inside the fit, cpu_seconds does not (the process sleeps)."""
    fit = runner.run_baseline

    def pause_then_fit(task, config):
        time.sleep(0.3)
        return fit(task, config)

    monkeypatch.setattr(runner, "run_baseline", pause_then_fit)
    r = capstone.run(order_task.subset(100, 50), "tfidf")
    assert r.wall_seconds >= 0.3
    assert 0 < r.cpu_seconds < r.wall_seconds - 0.25


def test_linear_baseline_on_the_adding_problem_stays_near_the_variance(adding_task):
    r = capstone.run(adding_task, "tfidf")
    assert r.metric_name == "mse" and r.params == capstone.ADDING_LENGTH * 2 + 1
    assert r.metric > 0.1


def test_run_trains_a_recurrent_model_and_is_reproducible(order_task):
    cfg = replace(capstone.FAST.config("order", "gru"), epochs=1, hidden=8, embed_dim=4)
    r1 = capstone.run(order_task, "gru", cfg, seed=0)
    r2 = capstone.run(order_task, "gru", cfg, seed=0)
    assert r1.metric == r2.metric and len(r1.history.test_metric) == 1
    assert 0 <= r1.metric <= 1 and not r1.diverged
    assert r1.params == 16 * 4 + 3 * 8 * (4 + 8 + 2) + 8 * 2 + 2
    assert r1.cpu_seconds > 0 and r1.threads == 1


def test_run_restores_the_thread_count(order_task):
    import torch

    before = torch.get_num_threads()
    cfg = replace(capstone.FAST.config("order", "rnn"), epochs=1, hidden=4, embed_dim=4)
    capstone.run(order_task.subset(64, 32), "rnn", cfg, threads=1)
    assert torch.get_num_threads() == before


def test_run_all_and_reporting(order_task, adding_task):
    small = capstone.Profile("tiny", {
        t: {m: replace(c, epochs=1, hidden=4, embed_dim=4) for m, c in grid.items()}
        for t, grid in capstone.FAST.configs.items()})
    tasks = {"order": order_task.subset(128, 64), "adding": adding_task.subset(64, 32)}
    results = capstone.run_all(["order", "adding"], ["tfidf", "cnn", "lstm"], profile=small,
                               tasks=tasks, show_progress=False)
    assert [(r.task, r.model) for r in results] == [
        ("order", "tfidf"), ("order", "cnn"), ("order", "lstm"),
        ("adding", "tfidf"), ("adding", "cnn"), ("adding", "lstm")]
    assert capstone.lookup(results, "adding", "cnn").metric_name == "mse"
    with pytest.raises(KeyError):
        capstone.lookup(results, "surnames", "cnn")
    table = capstone.results_table(results, tasks)
    lines = table.splitlines()
    assert len(lines) == 2 + len(results)
    assert "majority class" in lines[2] and "predict the mean" in lines[5]
    assert "0.167: variance baseline" in table
    for r in results:
        shown = f"{100 * r.metric:.1f} %" if r.metric_name == "accuracy" else f"{r.metric:.4f}"
        assert shown in table

    import matplotlib

    matplotlib.use("Agg")
    axes = capstone.plot_results(results, tasks)
    assert len(axes) == 2 and axes[0].get_title() == capstone.TASK_TITLES["order"]


def test_table_shows_published_numbers_and_divergence():
    rs = [capstone.Result("movie_reviews", "cnn", "accuracy", 0.7, 1000, 1.0, 1.0, 1),
          capstone.Result("movie_reviews", "tfidf", "accuracy", float("nan"), 10, 1.0, 1.0, 1)]
    table = capstone.results_table(rs)
    assert "76.1 %: Kim (2014)" in table and "79.4 %: NBSVM" in table
    assert "diverged" in table and rs[1].diverged and not rs[0].diverged


def test_train_to_target_stops_early_and_gives_up(order_task):
    cfg = replace(capstone.FAST.config("order", "gru"), hidden=8, embed_dim=4)
    easy = capstone.train_to_target(order_task, "gru", cfg, target=0.0, eval_every=2,
                                    n_eval=50)
    assert easy.reached and easy.steps == 2 and easy.examples == 2 * cfg.batch_size
    assert easy.curve == [(2, easy.metric)]
    hopeless = capstone.train_to_target(order_task, "gru", cfg, target=1.01, eval_every=3,
                                        n_eval=50, max_seconds=0.3)
    assert not hopeless.reached and hopeless.cpu_seconds < 10 and hopeless.steps >= 1
    assert [s for s, _ in hopeless.curve] == list(range(3, hopeless.steps + 1, 3))


def test_run_chooses_epochs_on_validation_and_tests_the_best_weights(order_task):
    import torch

    from course_utils.training import evaluate

    task = order_task.subset(300, 100)
    cfg = replace(capstone.FAST.config("order", "gru"), epochs=4, hidden=8, embed_dim=4,
                  val_target=None, patience=None, lr=0.05)
    r = capstone.run(task, "gru", cfg, seed=1)
    curve = r.history.test_metric            # the validation curve
    assert len(curve) == r.epochs == 4
    assert r.best_epoch == 1 + int(np.argmax(curve)) and r.val_metric == max(curve)
    fit_idx, val_idx = task.validation_split()
    val = (task.x_train[val_idx], task.y_train[val_idx])
    assert evaluate(r.model_object, val)[1] == pytest.approx(r.val_metric)
    assert evaluate(r.model_object, (task.x_test, task.y_test))[1] == pytest.approx(r.metric)
    # patience 1: training stops one epoch after the best validation epoch
    stop = capstone.run(task, "gru", replace(cfg, patience=1, epochs=30), seed=1)
    assert stop.epochs < 30 and stop.epochs == stop.best_epoch + 1
    assert "no better validation" in stop.history.stopped
    # a validation target ends the run at the first epoch that reaches it
    easy = capstone.run(task, "gru", replace(cfg, val_target=0.0), seed=1)
    assert easy.epochs == 1 and easy.history.stopped.startswith("target")
    del torch


def test_linear_baseline_chooses_C_on_validation(order_task):
    r = capstone.run(order_task, "tfidf")
    assert r.setting.startswith("C = ") and float(r.setting[4:]) in capstone.FAST.config(
        "order", "tfidf").C_grid
    assert 0 <= r.val_metric <= 1


# ---- the multi-seed record and the 2-standard-error rule ------------------------------------


def _spread(values, n_test=400, metric="accuracy", seed=0, flip=0.0):
    """A Spread whose per-example scores average to ``values`` per seed (accuracy: 0/1 scores;
    mse: squared errors), for tests of the rule."""
    rng = np.random.default_rng(seed)
    rows = []
    for v in values:
        if metric == "accuracy":
            k = int(round(v * n_test))
            row = np.zeros(n_test)
            row[rng.permutation(n_test)[:k]] = 1.0
        else:
            row = rng.exponential(v, n_test)
            row *= v / row.mean()
        rows.append(row)
    return capstone.Spread(tuple(float(r.mean()) for r in rows), metric, np.vstack(rows))


def test_spread_basics():
    a = capstone.Spread((0.80, 0.82, 0.81))
    assert a.mean == pytest.approx(0.81) and a.sd == pytest.approx(0.01)
    assert a.se == pytest.approx(0.01 / np.sqrt(3)) and a.contains(0.80) and not a.contains(0.9)
    assert capstone.Spread((0.5,)).sd == 0.0


def test_compare_adds_seed_and_paired_test_variances():
    a, b = _spread((0.80, 0.82, 0.81), seed=1), _spread((0.70, 0.71, 0.69), seed=2)
    c = capstone.compare(a, b)
    assert c.sign == 1 and capstone.compare(b, a).sign == -1
    assert c.se_seeds == pytest.approx(math.sqrt(a.sd ** 2 / 3 + b.sd ** 2 / 3))
    e = a.examples.mean(axis=0) - b.examples.mean(axis=0)
    assert c.se_test == pytest.approx(np.std(e, ddof=1) / math.sqrt(len(e)))
    assert c.se == pytest.approx(math.hypot(c.se_seeds, c.se_test))
    assert c.threshold == pytest.approx(c.t * c.se) and c.gain == pytest.approx(c.diff)
    # the test term is what a paired bootstrap over the examples estimates
    rng = np.random.default_rng(0)
    boot = e[rng.integers(0, len(e), size=(4000, len(e)))].mean(axis=1)
    assert boot.std() == pytest.approx(c.se_test, rel=0.08)


def test_the_bar_is_a_t_quantile_with_welch_degrees_of_freedom():
    from scipy.stats import t as student_t

    # seed noise only: two 3-seed models, identical scores per seed on a huge test set -> df ~ 4
    a, b = _spread((0.80, 0.84, 0.82), n_test=20000, seed=3), _spread((0.70, 0.74, 0.72),
                                                                      n_test=20000, seed=3)
    c = capstone.compare(a, b)
    assert 3.5 < c.df < 5 and c.t == pytest.approx(student_t.ppf(0.975, c.df))
    # one seed term only (the other model deterministic) and a negligible test term: df ~ 2
    d = capstone.compare(a, _spread((0.72, 0.72, 0.72), n_test=20000, seed=4))
    assert 2 <= d.df < 2.5 and d.t > 3.9
    # a difference of 2.5 seed-SEs is called by a 2-SE rule, not by the t bar with 2 df
    base = _spread((0.70, 0.70, 0.70), n_test=20000, seed=5)
    near = _spread((0.70 + 0.012, 0.70 + 0.032, 0.70 + 0.052), n_test=20000, seed=5)
    c2 = capstone.compare(near, base)
    assert 2 * c2.se < c2.gain < c2.threshold and c2.sign == 0


def test_compare_without_seed_noise_uses_the_paired_test_term():
    # deterministic models (one value repeated): only the test set's noise counts
    a = _spread((0.75, 0.75, 0.75), n_test=1000, seed=6)
    b = _spread((0.70, 0.70, 0.70), n_test=1000, seed=7)
    c = capstone.compare(a, b)
    assert c.se_seeds == pytest.approx(0, abs=1e-12) and c.df > 900
    assert c.se == pytest.approx(c.se_test)
    assert c.t == pytest.approx(1.96, abs=0.01)


def test_compare_an_mse_lower_is_better_and_needs_per_example_scores():
    m1 = _spread((0.010, 0.012, 0.011), metric="mse", seed=8)
    m2 = _spread((0.150, 0.160, 0.170), metric="mse", seed=9)
    c = capstone.compare(m1, m2)
    assert c.sign == 1 and c.gain == pytest.approx(-c.diff) and c.se_test > 0
    with pytest.raises(ValueError, match="per-example"):
        capstone.compare(capstone.Spread((0.8, 0.81)), capstone.Spread((0.7, 0.72)))


def test_record_writes_every_run_and_spreads_reads_it(order_task, tmp_path):
    tiny = capstone.Profile("tiny", {
        t: {m: replace(c, epochs=1, hidden=4, embed_dim=4) for m, c in grid.items()}
        for t, grid in capstone.FAST.configs.items()})
    path = tmp_path / "rec.json"
    lines = []
    rec = capstone.record((0, 1), profile=tiny, path=path,
                          tasks={"order": order_task.subset(64, 32)}, task_names=["order"],
                          model_names=["tfidf", "gru"], out=lines.append)
    assert capstone.load_record(path) == json.loads(json.dumps(rec))
    assert len(rec["runs"]) == 4 and len(lines) == 4 and rec["seeds"] == [0, 1]
    s = capstone.spreads(rec)
    assert s[("order", "gru")].n == 2 and s[("order", "tfidf")].sd == 0.0
    # every run keeps its per-example test scores, and they average to its metric
    assert s[("order", "gru")].examples.shape == (2, 32)
    np.testing.assert_allclose(s[("order", "gru")].examples.mean(axis=1),
                               s[("order", "gru")].values, atol=1e-6)
    assert capstone.compare(s[("order", "gru")], s[("order", "tfidf")]).se_test >= 0
    assert capstone.spreads(rec, "epochs")[("order", "gru")].values == (1, 1)
    table = capstone.spread_table(s, ["order"], ["tfidf", "gru"])
    assert "order task, distance 20-40 (2)" in table and " ± " in table


def test_keep_best_never_keeps_a_non_finite_metric():
    import torch

    net = torch.nn.Linear(2, 1)

    def ev(epoch, metric, name="accuracy"):
        return type("Ev", (), {"epoch": epoch, "metric": metric, "metric_name": name})()

    keep = runner.KeepBest(net, patience=2)
    assert keep(ev(1, float("nan"))) is None and keep.state is not None   # something to restore
    with torch.no_grad():
        net.weight += 1.0
    assert keep(ev(2, 0.6)) is None and keep.best_epoch == 2 and keep.best_metric == 0.6
    assert torch.equal(keep.state["weight"], net.weight)
    assert keep(ev(3, float("nan"))) is None and keep.best_epoch == 2     # NaN is no gain
    assert keep(ev(4, 0.5)) is not None                                   # patience spent
    mse = runner.KeepBest(net, patience=None)
    for epoch, m in enumerate([float("inf"), float("nan"), 0.3, float("-inf"), 0.2], 1):
        mse(ev(epoch, m, "mse"))
    assert mse.best_epoch == 5 and mse.best_metric == 0.2


def test_net_scores_leaves_the_network_in_its_mode(order_task):
    tiny = order_task.subset(64, 32)
    net = runner.build_model(tiny, "cnn", capstone.FAST.config("order", "cnn"), seed=0)
    for mode in (True, False):
        net.train(mode)
        s = runner.net_scores(tiny, net, tiny.x_test, tiny.y_test)
        assert net.training is mode and s.shape == (32,)


def test_scores_round_trip_through_the_record_encoding():
    record_module = importlib.import_module("course_utils.capstone.record")
    rng = np.random.default_rng(0)
    right = (rng.random(50) < 0.6).astype(np.float64)
    stored = record_module.encode_scores(right, "accuracy")
    assert isinstance(stored, str) and len(stored) == 50
    np.testing.assert_array_equal(record_module.decode_scores(stored), right)
    errors = rng.random(20) ** 3
    stored = json.loads(json.dumps(record_module.encode_scores(errors, "mse")))
    back = record_module.decode_scores(stored)
    np.testing.assert_allclose(back, errors, rtol=5e-4)   # 4 significant digits
    # a NaN accuracy score is neither right nor wrong: it comes back as NaN, not as 1
    with_nan = np.array([1.0, np.nan, 0.0])
    assert record_module.encode_scores(with_nan, "accuracy") == "1?0"
    np.testing.assert_array_equal(record_module.decode_scores("1?0"), with_nan)
    assert np.isnan(record_module.decode_scores(record_module.encode_scores([np.nan], "mse"))[0])
    assert record_module.encode_scores(None, "accuracy") is None
    assert record_module.decode_scores(None) is None
    with pytest.raises(ValueError, match="0, 1 or NaN"):
        record_module.encode_scores([0.5], "accuracy")
    with pytest.raises(ValueError, match="other than 0, 1"):
        record_module.decode_scores("10x")


def _fake_run(diverge_at=None, fail_at=None):
    """A stand-in for runner.run: instant, with per-example scores; run number ``diverge_at``
    (1-based) diverges like a real one (NaN metric, never tested), ``fail_at`` raises."""
    calls = []

    def fake(task, model, *, profile, seed, threads):
        calls.append((task.name, model, seed))
        k = len(calls)
        if k == fail_at:
            raise KeyboardInterrupt
        hist = type("H", (), {"diverged": k == diverge_at})()
        if k == diverge_at:
            return runner.Result(task.name, model, "accuracy", float("nan"), 10, 0.1, 0.1, 1,
                                 hist, None, val_metric=0.5, epochs=1, best_epoch=1,
                                 seed=seed)
        per = (np.arange(len(task.y_test)) % (k + 1) == 0).astype(np.float64)
        return runner.Result(task.name, model, "accuracy", float(per.mean()), 10, 0.1, 0.1, 1,
                             hist, None, val_metric=0.5, epochs=1, best_epoch=1, seed=seed,
                             per_example=per)

    return fake


def test_a_diverged_run_is_recorded_and_read_back(order_task, tmp_path, monkeypatch):
    record_module = importlib.import_module("course_utils.capstone.record")
    monkeypatch.setattr(record_module, "run", _fake_run(diverge_at=2))
    path = tmp_path / "rec.json"
    rec = capstone.record((0, 1), path=path, tasks={"order": order_task.subset(64, 32)},
                          task_names=["order"], model_names=["tfidf", "gru"], out=lambda s: None)
    assert len(rec["runs"]) == 4                       # the recording went on after it
    diverged = rec["runs"][1]
    assert diverged["model"] == "gru" and diverged["seed"] == 0
    assert math.isnan(diverged["metric"]) and diverged["scores"] is None
    back = capstone.load_record(path)
    assert len(back["runs"]) == 4 and back["runs"][1]["scores"] is None
    s = capstone.spreads(back)
    assert s[("order", "gru")].n == 2 and math.isnan(s[("order", "gru")].values[0])
    assert s[("order", "gru")].examples is None        # not every seed was tested
    assert s[("order", "tfidf")].examples.shape == (2, 32)
    with pytest.raises(ValueError, match="diverged"):
        capstone.compare(s[("order", "gru")], s[("order", "tfidf")])


def test_an_interrupted_record_keeps_the_finished_runs(order_task, tmp_path, monkeypatch):
    record_module = importlib.import_module("course_utils.capstone.record")
    monkeypatch.setattr(record_module, "run", _fake_run(fail_at=3))
    path = tmp_path / "rec.json"
    replaced = []   # every write goes through a rename onto the record (atomic on POSIX)
    real_replace = files.os.replace
    monkeypatch.setattr(files.os, "replace",
                        lambda src, dst: (replaced.append(Path(dst)), real_replace(src, dst)))
    with pytest.raises(KeyboardInterrupt):
        capstone.record((0, 1), path=path, tasks={"order": order_task.subset(64, 32)},
                        task_names=["order"], model_names=["tfidf", "gru"], out=lambda s: None)
    assert len(capstone.load_record(path)["runs"]) == 2 and replaced == [path, path]
    assert [p.name for p in tmp_path.iterdir()] == ["rec.json"]   # no temporary file left


def test_the_record_is_replaced_whole_or_not_at_all(tmp_path, monkeypatch):
    record_module = importlib.import_module("course_utils.capstone.record")
    path = tmp_path / "rec.json"
    path.write_text('{"runs": []}')

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", broken_replace)
    with pytest.raises(OSError):
        record_module.write_atomically(path, '{"runs": [1, 2]}')
    assert path.read_text() == '{"runs": []}'          # the old record, untouched
    assert [p.name for p in tmp_path.iterdir()] == ["rec.json"]


def test_committed_record_covers_every_pair_with_three_seeds():
    rec = capstone.load_record()
    assert capstone.load_record("fast") == rec
    s = capstone.spreads(rec)
    assert set(s) == {(t, m) for t in capstone.TASK_NAMES for m in capstone.MODEL_NAMES}
    assert all(v.n >= 3 for v in s.values()) and rec["profile"] == "fast"
    assert len({r["seed"] for r in rec["runs"]}) >= 3
    for (t, _), v in s.items():   # per-example scores of every run, on the task's test set
        n_test = {"movie_reviews": 2114, "surnames": 1182, "order": 1000, "adding": 1000}[t]
        assert v.examples.shape == (v.n, n_test)
        np.testing.assert_allclose(v.examples.mean(axis=1), v.values, rtol=1e-3, atol=1e-5)


def test_a_missing_profile_record_names_the_command(monkeypatch, tmp_path):
    record_module = importlib.import_module("course_utils.capstone.record")

    monkeypatch.setattr(record_module, "RECORD_PATH", tmp_path / "record_fast.json")
    with pytest.raises(FileNotFoundError, match="--profile full"):
        capstone.load_record("full")


def test_the_record_command_writes_a_profile_record(order_task, tmp_path, monkeypatch):
    record_module = importlib.import_module("course_utils.capstone.record")

    tiny = order_task.subset(64, 32)
    monkeypatch.setattr(record_module, "RECORD_PATH", tmp_path / "record_fast.json")
    monkeypatch.setattr(capstone, "load_task", lambda name, **kw: tiny)
    monkeypatch.setattr(record_module, "load_task", lambda name, **kw: tiny)
    full = capstone.Profile("full", {
        t: {m: replace(c, epochs=1, hidden=4, embed_dim=4) for m, c in grid.items()}
        for t, grid in capstone.FAST.configs.items()})
    monkeypatch.setitem(capstone.PROFILES, "full", full)
    assert record_module.main(["record", "--profile", "full", "--seeds", "0",
                               "--tasks", "order"]) == 0
    rec = capstone.load_record("full")
    assert rec["profile"] == "full" and len(rec["runs"]) == 5
    assert rec["command"].endswith("--profile full")


def test_recipe_table_lists_every_neural_pair():
    table = capstone.recipe_table(capstone.FAST)
    assert len(table.splitlines()) == 2 + 4 * 4
    assert "Adam" in table and "no better" not in table and "without gain" in table
    # the LSTM's forget bias is disclosed in every LSTM row
    lstm_rows = [row for row in table.splitlines() if "| LSTM |" in row]
    assert len(lstm_rows) == 4 and all("not chapter 06's +1" in row for row in lstm_rows)


def test_published_numbers_are_reference_lines_on_other_data():
    assert all("other data" in ref.source for ref in capstone.REFERENCES.values())
    assert "VADER" in capstone.TASK_TITLES["movie_reviews"]
    assert capstone.REVIEW_MAX_LEN == 40 and "40" in capstone.load_task.__doc__


# ---- the benchmark ------------------------------------------------------------------------


def test_flop_count():
    assert speed.flops("rnn", 1, 1, 1, 1) == 3 * 2 * 1 * 1 * 2
    assert speed.flops("lstm") == 3 * 2 * 100 * 64 * 4 * 128 * (64 + 128)
    assert speed.flops("gru") / speed.flops("rnn") == 3


def test_budgets_and_notebook_selection():
    assert bench.budget_for(REPO_ROOT / "notebooks" / "08_capstone.ipynb") == 180
    assert bench.budget_for(REPO_ROOT / "notebooks" / "00_start_here.ipynb") == 60
    found = bench.find_notebooks(["00_start"])
    assert [p.parent.name for p in found] == ["notebooks", "solutions"]
    assert bench.find_notebooks(["no-such-notebook"]) == []


def _write_nb(path, *sources):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)
    return path


def test_time_notebook_measures_and_never_modifies(tmp_path):
    path = _write_nb(tmp_path / "01_tiny.ipynb", "x = sum(i * i for i in range(200_000))",
                     "print(x)")
    before = path.read_bytes()
    r = bench.time_notebook(path)
    assert r.status == "ok" and r.wall_seconds > 0 and r.budget == 60
    assert r.cpu_seconds is not None and 0 < r.cpu_seconds < r.wall_seconds + 60
    assert path.read_bytes() == before


def test_time_notebook_reports_a_failing_notebook(tmp_path):
    path = _write_nb(tmp_path / "02_broken.ipynb", "raise RuntimeError('boom')")
    r = bench.time_notebook(path)
    assert r.status.startswith("failed") and "boom" in r.status
    lines = []
    rows = bench.bench_notebooks([path], out=lines.append)
    assert rows[0].status.startswith("failed") and lines[-1].startswith("total (1 notebooks)")


def test_compare_speed_checks_correctness_and_reports_ratios():
    r = speed.compare_speed("rnn", repeats=1, threads=1)
    assert r.max_abs_diff < 1e-3 and r.threads == 1
    assert r.numpy_seconds > 0 and r.torch_seconds > 0
    assert r.ratio == pytest.approx(r.numpy_seconds / r.torch_seconds)
    assert r.numpy_gflops == pytest.approx(speed.flops("rnn") / r.numpy_seconds / 1e9)


def test_main_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    status = bench.main(["--no-notebooks", "--no-scratch", "--no-adding", "--json", str(out)])
    assert status == 0
    report = json.loads(out.read_text())
    assert {"cpu", "torch", "load average at the end"} <= set(report["machine"])
    assert "== machine ==" in capsys.readouterr().out


def test_main_flags_an_empty_selection(capsys):
    assert bench.main(["--only", "no-such-notebook", "--no-scratch", "--no-adding"]) == 1
    assert "no notebook matched" in capsys.readouterr().out


def test_a_diverged_run_reports_nan_and_the_flag(order_task):
    cfg = replace(capstone.FAST.config("order", "rnn"), epochs=2, hidden=4, embed_dim=4,
                  clip=None, val_target=None, patience=None)

    class Exploding(capstone.build_model(order_task, "rnn", cfg).__class__):
        def forward(self, x):
            y = super().forward(x)
            return y * float("nan") if self.training else y

    net = Exploding("rnn", 4, 2, vocab_size=order_task.vocab_size, embed_dim=4)
    r = capstone.train_model(order_task.subset(256, 64), net, cfg)
    assert r.history.diverged and r.history.stopped == "diverged"
    assert math.isnan(r.metric) and r.diverged and r.epochs == 1
    table = capstone.results_table([r])
    assert "diverged" in table
    fine = capstone.run(order_task.subset(256, 64), "rnn", cfg)
    assert not fine.diverged and math.isfinite(fine.metric)


def test_pooled_seed_variance_and_the_chapters_rule():
    from scipy.stats import t as student_t

    S = {("x", "cnn"): _spread((0.70, 0.74, 0.72), n_test=20000, seed=10),
         ("x", "rnn"): _spread((0.60, 0.61, 0.62), n_test=20000, seed=11),
         ("x", "lstm"): _spread((0.700, 0.702, 0.704), n_test=20000, seed=12),
         ("x", "gru"): _spread((0.68, 0.70, 0.72), n_test=20000, seed=13),
         ("x", "tfidf"): _spread((0.73, 0.73, 0.73), n_test=20000, seed=14)}
    var, df = capstone.pooled_seed_variance(S, "x")
    sds = [S[("x", m)].sd for m in ("cnn", "rnn", "lstm", "gru")]
    assert df == 8 and var == pytest.approx(np.mean(np.square(sds)))
    # a model whose three seeds happen to agree no longer looks sure against the baseline
    own, pooled = capstone.compare(S[("x", "tfidf")], S[("x", "lstm")]), capstone.compare_models(
        S, "x", "tfidf", "lstm")
    assert pooled.se_seeds == pytest.approx(math.sqrt(var / 3)) and pooled.se_seeds > own.se_seeds
    assert pooled.se == pytest.approx(math.hypot(pooled.se_seeds, pooled.se_test))
    # two neural models: one pooled estimate, var (1/3 + 1/3), counted with its 8 df
    c = capstone.compare_models(S, "x", "cnn", "gru")
    assert c.se_seeds == pytest.approx(math.sqrt(2 * var / 3))
    assert 8 <= c.df < 9 and c.t == pytest.approx(student_t.ppf(0.975, c.df))
    # the floor variant keeps a model's own variance where it is larger, so it is never surer
    for a, b in (("tfidf", "lstm"), ("cnn", "rnn"), ("gru", "lstm"), ("tfidf", "cnn")):
        f = capstone.compare_models(S, "x", a, b, floor=True)
        p = capstone.compare_models(S, "x", a, b)
        assert f.se_seeds >= p.se_seeds - 1e-12 and (f.sign == 0 or f.sign == p.sign)
    # a seeded model whose seeds agree by chance still takes the pooled variance
    S[("x", "rnn")] = _spread((0.61, 0.61, 0.61), n_test=20000, seed=11)
    assert capstone.compare_models(S, "x", "rnn", "tfidf").se_seeds > 0
