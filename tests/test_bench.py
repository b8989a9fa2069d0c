"""The benchmark's closing note reports every ratio, per thread count, against the goal."""

from course_utils.maintainer import bench


def test_closing_note_lists_the_ratios_per_thread_count():
    rows = [{"kind": k, "threads": n, "ratio": r} for n, ratios in ((2, (0.5, 0.9, 0.7)),
                                                                     (1, (0.8, 1.1, 0.95)))
            for k, r in zip(("rnn", "lstm", "gru"), ratios, strict=True)]
    lines = bench.closing_note(rows).splitlines()
    assert lines[0].endswith(f"(goal <= {bench.SPEED_GOAL}):")
    assert lines[1:] == ["  2 threads: rnn 0.50, lstm 0.90, gru 0.70",
                         "  1 thread: rnn 0.80, lstm 1.10, gru 0.95"]
