"""Real data sets of the course: movie-review snippets and surnames by language.

Movie reviews
    Movie-review snippets with VADER's human labels: the 10,605 sentence-level snippets that
    Hutto & Gilbert (2014) had rated by people for VADER, shipped inside the source distribution
    of the PyPI package ``vaderSentiment==3.3.2``. Their read-me derives them from the 2,000
    reviews of Pang & Lee (2004); a label is the sign of the mean human rating, not the polarity
    of the review. This is not the "MR" benchmark (Pang & Lee 2005, 10,662 sentences) used by
    Kim (2014), and how far the two overlap is not established. PyPI is the one place this
    course downloads from: ``make data`` downloads that one file (nothing is built or
    installed), hashes it as it arrives, keeps it in a cache folder only if its sha256 is the
    pinned one, and every load verifies it again.
    Loaders read the cache only and never download. Concurrent fetches into one cache take turns
    (a file lock) and the archive appears by an atomic rename. Then everything works offline.

Surnames
    Last-name lists of ten languages, read from the per-locale person providers of the pinned
    ``Faker==40.63.0`` package (installed with the course), for character-level classification.

Command line::

    python -m course_utils.data fetch   # download once (needs PyPI), then print counts
    python -m course_utils.data info    # print counts of what is in the cache
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import http.client
import importlib
import io
import os
import re
import shutil
import sys
import tarfile
import tempfile
import unicodedata
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from filelock import FileLock
from sklearn.model_selection import train_test_split

from course_utils import REPO_ROOT

__all__ = [
    "DataUnavailableError",
    "MR_ARCHIVE",
    "MR_SHA256",
    "MR_URL",
    "MovieReviews",
    "SURNAME_LOCALES",
    "Surnames",
    "cached_archive",
    "data_dir",
    "fetch_movie_reviews",
    "load_movie_reviews",
    "load_surnames",
]

MR_ARCHIVE = "vaderSentiment-3.3.2.tar.gz"
# The file's permanent address on PyPI (as its simple index lists it for vaderSentiment 3.3.2).
MR_URL = ("https://files.pythonhosted.org/packages/77/8c/"
          "4a48c10a50f750ae565e341e697d74a38075a3e43ff0df6f1ab72e186902/" + MR_ARCHIVE)
MR_SHA256 = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
_MR_INNER_ARCHIVE = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
_MR_MEMBER = "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"

# One seed and one test fraction for every split, so all chapters compare on the same test set.
SPLIT_SEED = 0
TEST_FRACTION = 0.2



class DataUnavailableError(RuntimeError):
    """The movie-review archive is neither in the cache nor downloadable right now."""


def data_dir() -> Path:
    """Cache folder: ``$COURSE_DATA_DIR`` if set, else ``<repo root>/data`` (git-ignored)."""
    env = os.environ.get("COURSE_DATA_DIR")
    return Path(env).expanduser() if env else REPO_ROOT / "data"


# ---------------------------------------------------------------------------------------------
# Movie reviews: fetching and verifying the archive
# ---------------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _is_valid(path: Path) -> bool:
    try:  # another process may replace or remove the file at any moment
        return path.is_file() and _sha256(path) == MR_SHA256
    except OSError:
        return False


def _cache_lock(folder: Path) -> FileLock:
    """An exclusive lock on ``folder/.fetch.lock`` (one fetch at a time per cache)."""
    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(str(folder / ".fetch.lock"))


def _unavailable_message(reason: str) -> str:
    return (
        f"The movie-review data set is not available ({reason}).\n"
        "Fetch it once with `make data` (or `python -m course_utils.data fetch`); this needs "
        "access to PyPI once, afterwards everything works offline.\n"
        f"Cache folder: {data_dir()} (set COURSE_DATA_DIR to use another one)."
    )


def _download(url: str, out) -> None:
    """Stream ``url`` into the binary file-like ``out``; raise on any failure.

    Nothing is built, installed or unpacked: the bytes go to ``out``, which hashes them as they
    arrive. A separate function so that tests can replace the network step.
    """
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - a fixed https URL
        shutil.copyfileobj(response, out, 1 << 16)


class _HashingWriter:
    """Writes to a file and hashes every byte on the way."""

    def __init__(self, fh):
        self.fh, self.sha, self.size = fh, hashlib.sha256(), 0

    def write(self, chunk: bytes) -> int:
        self.sha.update(chunk)
        self.size += len(chunk)
        return self.fh.write(chunk)


def fetch_movie_reviews(force: bool = False) -> Path:
    """Make sure the verified ``vaderSentiment-3.3.2.tar.gz`` is in the cache; return its path.

    The only function of the course that downloads (``make data``, ``python -m
    course_utils.data fetch``). Does nothing if a file with the right sha256 is already there
    (unless ``force``). A cached file with a wrong checksum (truncated, corrupted) is deleted and
    fetched again. The download goes to a temporary file inside the cache, is hashed while it
    arrives and is moved into place only when its sha256 is the pinned one, so an interrupted or
    wrong download never leaves a file that a loader could read.

    Raises:
        DataUnavailableError: the download failed (offline), gave a wrong file, or the cache
            folder cannot be written.
    """
    target = data_dir() / MR_ARCHIVE
    if not force and _is_valid(target):
        return target
    try:
        # One fetch at a time: a second process waits here, then finds the archive in place.
        with _cache_lock(target.parent):
            if force or not _is_valid(target):
                _download_into(target)
    except OSError as err:  # e.g. a read-only cache folder
        raise DataUnavailableError(_unavailable_message(str(err))) from err
    return target


def _download_into(target: Path) -> None:
    if target.exists() and not _is_valid(target):
        print(f"{target} is corrupted or incomplete (sha256 mismatch); deleting and fetching "
              "it again from PyPI ...")
        target.unlink(missing_ok=True)
    url = os.environ.get("COURSE_MR_URL") or MR_URL
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".download-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as fh:
            writer = _HashingWriter(fh)
            try:
                _download(url, writer)
            except (OSError, ValueError, http.client.HTTPException) as err:
                raise DataUnavailableError(_unavailable_message(
                    f"downloading {url} failed: {err}")) from err
        if writer.sha.hexdigest() != MR_SHA256:
            raise DataUnavailableError(_unavailable_message(
                f"the downloaded {MR_ARCHIVE} ({writer.size:,} bytes) has the wrong sha256"))
        os.replace(tmp, target)  # atomic: readers see no file or the whole verified one
    finally:
        Path(tmp).unlink(missing_ok=True)


def cached_archive() -> Path:
    """The verified archive in the cache; never downloads (only ``fetch_movie_reviews`` does).

    Raises:
        DataUnavailableError: the archive is missing or its sha256 is wrong.
    """
    target = data_dir() / MR_ARCHIVE
    if _is_valid(target):
        return target
    reason = ("the cached archive is corrupted or incomplete" if target.exists()
              else "it has not been downloaded yet")
    raise DataUnavailableError(_unavailable_message(reason))


# ---------------------------------------------------------------------------------------------
# Movie reviews: parsing and splitting
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _parse_movie_reviews(archive: Path) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """All polar sentences in file order, read from the nested archives in memory.

    The cache key is the path; callers verify the checksum first, so a cached result can never
    belong to different bytes.
    """
    with tarfile.open(archive) as outer:
        inner_bytes = outer.extractfile(_MR_INNER_ARCHIVE).read()
    with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
        raw = inner.extractfile(_MR_MEMBER).read().decode("utf-8")
    texts, labels = [], []
    for line in raw.splitlines():
        _id, rating, text = line.split("\t")
        mean = float(rating)
        # 37 sentences have a mean rating of exactly 0: neither positive nor negative.
        if mean != 0:
            texts.append(text.strip())
            labels.append(int(mean > 0))
    return tuple(texts), tuple(labels)


@dataclass(frozen=True)
class MovieReviews:
    """Movie-review snippets with VADER's human labels (0 = negative, 1 = positive mean rating).

    Attributes:
        train_texts: list of N_train raw sentences (str), N_train = 8,454.
        train_labels: np.int64 array, shape (N_train,).
        test_texts: list of N_test raw sentences (str), N_test = 2,114.
        test_labels: np.int64 array, shape (N_test,).
    """

    train_texts: list[str]
    train_labels: np.ndarray
    test_texts: list[str]
    test_labels: np.ndarray

    label_names = ("negative", "positive")

    def summary(self) -> str:
        """One line per split with its size and class counts."""
        rows = []
        for split, labels in (("train", self.train_labels), ("test", self.test_labels)):
            neg, pos = np.bincount(labels, minlength=2)
            rows.append(f"{split:5s}: {len(labels):5d} sentences  ({pos} positive, {neg} negative)")
        return "\n".join(rows)


def load_movie_reviews() -> MovieReviews:
    """The movie-review snippets with VADER's human labels, split 80/20 into train and test.

    Source: ``movieReviewSnippets_GroundTruth.txt`` (10,605 sentences with a mean human rating
    in [-4, 4]). Label 1 if the mean rating is > 0, 0 if < 0; the 37 sentences rated exactly 0
    are dropped, leaving 10,568 (5,242 positive, 5,326 negative). The split is stratified by
    label with ``random_state=SPLIT_SEED``:

    ======  =====  ========  ========
    split   total  positive  negative
    ======  =====  ========  ========
    train   8,454     4,193     4,261
    test    2,114     1,049     1,065
    ======  =====  ========  ========

    Reads the cache only (``make data`` fills it): it never downloads. The archive's checksum is
    verified on every call (cheap); the parsing is cached in-process, and every call returns
    fresh lists and arrays, so modifying them is harmless.

    Raises:
        DataUnavailableError: no verified archive in the cache (run ``make data``).
    """
    texts, labels = _parse_movie_reviews(cached_archive())
    tr_x, te_x, tr_y, te_y = train_test_split(
        list(texts), np.array(labels, dtype=np.int64), test_size=TEST_FRACTION,
        stratify=labels, random_state=SPLIT_SEED)
    return MovieReviews(tr_x, tr_y, te_x, te_y)


# ---------------------------------------------------------------------------------------------
# Surnames by language
# ---------------------------------------------------------------------------------------------

# language -> (Faker locale, attribute of its person Provider). Chosen: Latin-script lists with
# at least ~380 single-word surnames that look like surnames of that language. Not used:
# ga_IE (over 90% are two words such as "Mac Airt"), cs_CZ (only 200 names), en_US (the US
# census top 1000 mixes in many Spanish and Vietnamese names; en_GB is cleaner), and for
# Estonian `last_names` (it appends transliterated Russian names), hence `last_names_est`.
SURNAME_LOCALES: dict[str, tuple[str, str]] = {
    "Croatian": ("hr_HR", "last_names"),
    "Dutch": ("nl_NL", "last_names"),
    "English": ("en_GB", "last_names"),
    "Estonian": ("et_EE", "last_names_est"),
    "Finnish": ("fi_FI", "last_names"),
    "French": ("fr_FR", "last_names"),
    "German": ("de_DE", "last_names"),
    "Italian": ("it_IT", "last_names"),
    "Spanish": ("es_ES", "last_names"),
    "Swedish": ("sv_SE", "last_names"),
}

# One word of letters (any script's letters, so accents stay), optionally joined by an inner
# apostrophe or hyphen as in "O'Neill" or "Coret-Coredo".
_SINGLE_WORD = re.compile(r"[^\W\d_]+(?:['-][^\W\d_]+)*")


def _raw_surnames(locale: str, attribute: str) -> list[str]:
    provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
    names = getattr(provider, attribute)
    return list(names.keys() if isinstance(names, dict) else names)


def _normalise_surnames(names: list[str]) -> list[str]:
    """NFC, stripped, single words only, one spelling per name (see `_clash_key`), sorted.

    Multi-word names ("van der Dussen", "Da Silva", "Mac Airt") are dropped: their particle
    would give the language away without the model having to read the name.
    """
    kept: dict[str, str] = {}
    for name in names:
        name = unicodedata.normalize("NFC", name.strip())
        if _SINGLE_WORD.fullmatch(name):
            # The first spelling in Faker's list wins, e.g. "Díaz" over a later "Diaz".
            kept.setdefault(_clash_key(name), name)
    return sorted(kept.values())


def _clash_key(name: str) -> str:
    """Case- and accent-insensitive key: "Müller", "muller" and "MULLER" are the same name."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@functools.lru_cache(maxsize=1)
def _surnames_by_language() -> dict[str, list[str]]:
    lists = {lang: _normalise_surnames(_raw_surnames(locale, attribute))
             for lang, (locale, attribute) in SURNAME_LOCALES.items()}
    # A name listed for two languages has no single right answer, so it goes from both.
    n_languages = Counter(key for names in lists.values() for key in {_clash_key(n) for n in names})
    return {lang: [n for n in names if n_languages[_clash_key(n)] == 1]
            for lang, names in lists.items()}


@dataclass(frozen=True)
class Surnames:
    """Surnames with the index of their language in ``languages`` as label.

    Attributes:
        train_names: list of N_train surnames (str), N_train = 4,728.
        train_labels: np.int64 array, shape (N_train,), values in 0..len(languages)-1.
        test_names: list of N_test surnames (str), N_test = 1,182.
        test_labels: np.int64 array, shape (N_test,).
        languages: list of 10 language names, alphabetical.
    """

    train_names: list[str]
    train_labels: np.ndarray
    test_names: list[str]
    test_labels: np.ndarray
    languages: list[str]

    def summary(self) -> str:
        """One line per language with its train and test counts."""
        k = len(self.languages)
        train, test = (np.bincount(y, minlength=k) for y in (self.train_labels, self.test_labels))
        rows = [f"{'language':10s} {'train':>5s} {'test':>5s}"]
        rows += [f"{lang:10s} {a:5d} {b:5d}" for lang, a, b in
                 zip(self.languages, train, test, strict=True)]
        rows.append(f"{'total':10s} {train.sum():5d} {test.sum():5d}")
        return "\n".join(rows)


def load_surnames() -> Surnames:
    """Surnames of ten languages from Faker 40.63.0, split 80/20 (stratified, SPLIT_SEED).

    Normalisation: Unicode NFC, surrounding whitespace stripped, capitalisation and accents
    kept; only single words of letters (inner ``'`` or ``-`` allowed) are kept; spellings that
    differ only in case or accents count as one name: within a language they are merged
    ("Díaz"/"Diaz"), and a name found in more than one language is dropped from all of them.
    Counts (they depend on the pinned Faker version):

    ========  =====  =====  ====
    language  total  train  test
    ========  =====  =====  ====
    Croatian    788    630   158
    Dutch       648    518   130
    English     459    367    92
    Estonian    358    287    71
    Finnish     370    296    74
    French      330    264    66
    German      372    298    74
    Italian   1,152    922   230
    Spanish     984    787   197
    Swedish     449    359    90
    ========  =====  =====  ====
    total     5,910  4,728  1,182
    ========  =====  =====  ====

    The classes are imbalanced (Italian, the largest, is 19.5 % of all names), so report
    per-class accuracy too.
    """
    by_language = _surnames_by_language()
    languages = list(by_language)
    names = [n for lang in languages for n in by_language[lang]]
    labels = np.array([i for i, lang in enumerate(languages) for _ in by_language[lang]],
                      dtype=np.int64)
    tr_x, te_x, tr_y, te_y = train_test_split(
        names, labels, test_size=TEST_FRACTION, stratify=labels, random_state=SPLIT_SEED)
    return Surnames(tr_x, tr_y, te_x, te_y, languages)


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def _describe() -> str:
    reviews = load_movie_reviews()
    return (f"Movie reviews ({data_dir() / MR_ARCHIVE}, sha256 verified):\n{reviews.summary()}\n\n"
            f"Surnames (Faker, installed with the course):\n{load_surnames().summary()}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m course_utils.data {fetch,info}``; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m course_utils.data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["fetch", "info"],
                        help="fetch: download the movie reviews if needed; info: print counts")
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            fetch_movie_reviews()
        elif not _is_valid(data_dir() / MR_ARCHIVE):
            # `info` only looks: it never downloads.
            raise DataUnavailableError(_unavailable_message("no verified archive in the cache"))
        print(_describe())
    except DataUnavailableError as err:
        print(err, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
