"""The downloader against a server on 127.0.0.1: good, truncated and corrupted files."""

import hashlib
import io
import json
import zipfile

import pytest

from agent_r1.envs.datasets import load_records
from agent_r1.envs.datasets.download import DownloadError, download, fetch
from agent_r1.trainer.cli import main
from servers import file_handler, serve
from test_datasets_formats import HOTPOT

GOOD = json.dumps([{**HOTPOT, "_id": f"q{i}"} for i in range(1000)]).encode()  # about 500 kB: many read blocks
HALF = len(GOOD) // 2
SHA256 = "sha256:" + hashlib.sha256(GOOD).hexdigest()


def test_a_good_file_lands_where_the_loader_reads_it(tmp_path):
    with serve(file_handler({"/h.json": GOOD})) as url:
        path = download("hotpotqa", "dev", root=tmp_path, url=url + "/h.json", checksum=SHA256, progress=False)
    assert path == tmp_path / "hotpotqa" / "hotpot_dev_distractor_v1.json"
    assert path.read_bytes() == GOOD and not path.with_name(path.name + ".part").exists()
    assert len(load_records("hotpotqa", path)) == 1000


def test_a_truncated_download_is_never_final_and_resumes(tmp_path):
    log = []
    with serve(file_handler({"/h.json": GOOD}, cut_first_response_at=HALF, log=log)) as url:
        with pytest.raises(DownloadError, match="run again to resume"):
            download("hotpotqa", "dev", root=tmp_path, url=url + "/h.json", checksum=SHA256, progress=False)
        final = tmp_path / "hotpotqa" / "hotpot_dev_distractor_v1.json"
        part = final.with_name(final.name + ".part")
        assert not final.exists() and part.stat().st_size == HALF
        download("hotpotqa", "dev", root=tmp_path, url=url + "/h.json", checksum=SHA256, progress=False)
    assert log[1]["range"] == f"bytes={HALF}-"  # resumed, not restarted
    assert final.read_bytes() == GOOD and not part.exists()


def test_a_wrong_checksum_removes_the_download(tmp_path):
    corrupted = GOOD.replace(b"Orvania", b"Orvanja", 1)
    with serve(file_handler({"/h.json": corrupted})) as url:
        with pytest.raises(DownloadError, match="sha256 checksum mismatch"):
            download("hotpotqa", "dev", root=tmp_path, url=url + "/h.json", checksum=SHA256, progress=False)
    assert list((tmp_path / "hotpotqa").iterdir()) == []


def test_a_wrong_size_removes_the_download(tmp_path):
    with serve(file_handler({"/f": b"x" * 10})) as url:
        with pytest.raises(DownloadError, match="expected 11 bytes, got 10"):
            fetch(url + "/f", tmp_path / "f", size=11, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_archives_are_checked_then_extracted(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("data/musique_ans_v1.0_dev.jsonl", "{}\n")
        zf.writestr("__MACOSX/data/._musique_ans_v1.0_dev.jsonl", "junk")
    archive = buffer.getvalue()
    with serve(file_handler({"/m.zip": archive, "/not.zip": b"<html>quota exceeded</html>"})) as url:
        with pytest.raises(DownloadError, match="not a zip archive"):
            download("musique", "dev", root=tmp_path, url=url + "/not.zip", progress=False)
        path = download("musique", "dev", root=tmp_path, url=url + "/m.zip",
                        checksum="sha256:" + hashlib.sha256(archive).hexdigest(), progress=False)
    assert path.read_text() == "{}\n"


def test_http_errors_and_the_command_line(tmp_path, capsys):
    with serve(file_handler({"/h.json": GOOD})) as url:
        with pytest.raises(DownloadError, match="HTTP 404"):
            download("hotpotqa", "dev", root=tmp_path, url=url + "/missing.json", progress=False)
        assert main(["data", "download", "hotpotqa", "--root", str(tmp_path), "--url", url + "/h.json",
                     "--checksum", SHA256, "--quiet"]) == 0
    assert "hotpotqa dev: " in capsys.readouterr().out
    with pytest.raises(SystemExit, match="cannot connect"):
        main(["data", "download", "hotpotqa", "--split", "train", "--root", str(tmp_path), "--url", "http://127.0.0.1:9/x", "--quiet"])
