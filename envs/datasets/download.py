"""Fetching the official dataset files into the local cache.

A download goes to `<name>.part` beside its target and resumes from there
(HTTP Range) after an interruption; the file moves to its final name only once
its size and checksum are right, so a loader never reads a broken download.
Archives (2WikiMultihopQA, MuSiQue) are checked, then the wanted member is
extracted the same way.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from agent_r1.tools.paths import data_home

logger = logging.getLogger(__name__)

_CHUNK = 1 << 16


class DownloadError(RuntimeError):
    pass


@dataclass(frozen=True)
class Source:
    url: str
    # "algorithm:hex"; None where no published checksum was found (then the
    # size, when known, and the loader's validation are the checks).
    checksum: str | None = None
    size: int | None = None
    member: str | None = None  # the file inside a zip archive


@dataclass(frozen=True)
class DatasetFile:
    dataset: str
    split: str
    filename: str  # the official file name, kept in the cache
    source: Source

    def path(self, root: Path | None = None) -> Path:
        return (root or data_home()) / self.dataset / self.filename


_TWOWIKI_ZIP = "https://www.dropbox.com/s/ms2m13252h6xubs/data_ids_april7.zip?dl=1"
_MUSIQUE_ZIP = "https://drive.usercontent.google.com/download?id=1tGdADlNjWFaHLeZZGShh2IRcpO6Lv24h&export=download&confirm=t"
_MUSIQUE_ZIP_SHA256 = "sha256:98f839bf2fd5319f5c688aed77901a6d5c30b3b9f9f691ab9a8ecafb045ee0cd"

# Checksums: HotpotQA's SHA-1 and sizes as listed by GluonNLP's dataset scripts;
# MuSiQue's archive SHA-256 as recorded by a public preprocessing pipeline;
# none is published for 2WikiMultihopQA's archive.
FILES: dict[tuple[str, str], DatasetFile] = {
    ("hotpotqa", "dev"): DatasetFile("hotpotqa", "dev", "hotpot_dev_distractor_v1.json", Source(
        "http://curtis.ml.cmu.edu/datasets/hotpot/hotpot_dev_distractor_v1.json",
        "sha1:825b6cfc34a61db41e82bbb14d978d5a834925f8", 46320117)),
    ("hotpotqa", "train"): DatasetFile("hotpotqa", "train", "hotpot_train_v1.1.json", Source(
        "http://curtis.ml.cmu.edu/datasets/hotpot/hotpot_train_v1.1.json",
        "sha1:08c42431c22984f362e94de0e635c7b858c3cff0", 566426227)),
    ("2wikimultihopqa", "dev"): DatasetFile("2wikimultihopqa", "dev", "dev.json", Source(_TWOWIKI_ZIP, member="dev.json")),
    ("2wikimultihopqa", "train"): DatasetFile("2wikimultihopqa", "train", "train.json", Source(_TWOWIKI_ZIP, member="train.json")),
    ("musique", "dev"): DatasetFile("musique", "dev", "musique_ans_v1.0_dev.jsonl", Source(
        _MUSIQUE_ZIP, _MUSIQUE_ZIP_SHA256, member="musique_ans_v1.0_dev.jsonl")),
    ("musique", "train"): DatasetFile("musique", "train", "musique_ans_v1.0_train.jsonl", Source(
        _MUSIQUE_ZIP, _MUSIQUE_ZIP_SHA256, member="musique_ans_v1.0_train.jsonl")),
}


def dataset_file(dataset: str, split: str) -> DatasetFile:
    try:
        return FILES[(dataset, split)]
    except KeyError:
        known = ", ".join(f"{d} --split {s}" for d, s in FILES)
        raise ValueError(f"no official file for {dataset!r} split {split!r}; known: {known}") from None


def file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(url: str, target: Path, *, checksum: str | None = None, size: int | None = None,
          timeout: float = 60.0, progress: bool = True) -> Path:
    """Downloads `url` to `target`, resuming `target.part`; verifies size and checksum first."""
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "agent-r1", **({"Range": f"bytes={offset}-"} if offset else {})})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # the part is already complete
            response = None
        else:
            raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise DownloadError(f"{url}: cannot connect ({getattr(exc, 'reason', exc)})") from None
    if response is not None:
        with response:
            if offset and response.status != 206:
                logger.info("the server ignored the resume request; starting %s over", target.name)
                offset = 0
            length = response.headers.get("Content-Length")
            expected_end = offset + int(length) if length is not None else size
            with open(part, "ab" if offset else "wb") as out, tqdm(
                total=expected_end, initial=offset, unit="B", unit_scale=True, desc=target.name, disable=not progress
            ) as bar:
                try:
                    for block in iter(lambda: response.read(_CHUNK), b""):
                        out.write(block)
                        bar.update(len(block))
                except (OSError, urllib.error.URLError) as exc:
                    raise DownloadError(f"{url}: interrupted after {out.tell():,} bytes ({exc}); run again to resume") from None
        received = part.stat().st_size
        if expected_end is not None and received < expected_end:
            raise DownloadError(f"{url}: got {received:,} of {expected_end:,} bytes; run again to resume")
    _verify(part, url, checksum, size)
    os.replace(part, target)
    return target


def _verify(part: Path, url: str, checksum: str | None, size: int | None) -> None:
    received = part.stat().st_size
    if size is not None and received != size:
        part.unlink()
        raise DownloadError(f"{url}: expected {size:,} bytes, got {received:,}; the partial file was removed, run again")
    if checksum is not None:
        algorithm, _, expected = checksum.partition(":")
        actual = file_digest(part, algorithm)
        if actual != expected.lower():
            part.unlink()
            raise DownloadError(
                f"{url}: {algorithm} checksum mismatch (expected {expected}, got {actual}); the file was removed. "
                "If the publisher changed the file, pass the new checksum with --checksum."
            )
    elif size is None:
        logger.info("no published checksum for %s; sha256 of the download: %s", url, file_digest(part, "sha256"))


def _extract(archive: Path, member: str, target: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        names = [n for n in zf.namelist() if Path(n).name == member and not n.startswith("__MACOSX")]
        if not names:
            raise DownloadError(f"{archive}: no {member} inside the archive")
        tmp = target.with_name(target.name + ".part")
        with zf.open(names[0]) as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, _CHUNK)
    os.replace(tmp, target)


def download(dataset: str, split: str, *, root: Path | None = None, url: str | None = None,
             checksum: str | None = None, progress: bool = True) -> Path:
    """Brings one official file into the cache (a no-op when it is there) and returns its path.

    `url` and `checksum` override the registry (mirrors, tests, a re-published file).
    """
    spec = dataset_file(dataset, split)
    target = spec.path(root)
    if target.exists():
        return target
    source = spec.source
    url = url or source.url
    checksum = checksum or (source.checksum if url == source.url else None)
    size = source.size if url == source.url else None
    if source.member is None:
        return fetch(url, target, checksum=checksum, size=size, progress=progress)
    archive = target.parent / "downloads" / f"{dataset}.zip"
    if not archive.exists():
        fetch(url, archive, checksum=checksum, size=size, progress=progress)
    try:
        _extract(archive, source.member, target)
    except zipfile.BadZipFile:
        archive.unlink()
        raise DownloadError(f"{url}: the download is not a zip archive; it was removed, run again") from None
    return target
