"""Downloads against a local HTTP mirror: verified, atomic, and clean on every kind of failure."""

from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import tts_gym.store.fetch as fetch_module
from tests.support import in_tmpfs
from tts_gym.cli import main
from tts_gym.errors import StoreError
from tts_gym.store import CATALOG, GROUPS
from tts_gym.store.fetch import fetch
from tts_gym.store.files import atomic_write, remove_stale_partials, sha256_file

NAME = "autotts/qwen3-4b/aime24"  # the smallest real store (about 2 MB)
ENTRY = CATALOG[NAME]


class MirrorHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder; under /drop/ it cuts the body in half, under /stall/ it stops sending
    (for 10 s), under /hang/ too (until the server stops)."""

    stop = threading.Event()

    def do_GET(self) -> None:
        kind, _, rest = self.path.lstrip("/").partition("/")
        if kind not in ("drop", "stall", "hang"):
            return super().do_GET()
        body = (Path(self.directory) / "good" / rest).read_bytes()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        if kind != "drop":
            self.stop.wait(10 if kind == "stall" else 300)
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def mirror(shared_replay: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a local server: /good/ has the search stores, /bad/ a corrupted copy."""
    root = tmp_path_factory.mktemp("mirror")
    for name in GROUPS["search"]:
        target = root / "good" / CATALOG[name].relative_path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared_replay / CATALOG[name].relative_path, target)
    bad = root / "bad" / ENTRY.relative_path
    bad.parent.mkdir(parents=True)
    data = bytearray((root / "good" / ENTRY.relative_path).read_bytes())
    data[len(data) // 2] ^= 1
    bad.write_bytes(bytes(data))
    MirrorHandler.stop.clear()
    handler = functools.partial(MirrorHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    MirrorHandler.stop.set()
    server.shutdown()
    server.server_close()


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_good_download_is_verified_then_skipped(mirror: str, tmp_path: Path, capsys) -> None:
    (path,) = fetch([NAME], tmp_path, mirror=f"{mirror}/good/", progress=False)
    assert path == tmp_path / ENTRY.relative_path
    assert sha256_file(path) == ENTRY.sha256
    assert files_under(tmp_path) == [path]
    # present with the right checksum: no request at all (this mirror does not exist)
    assert fetch([NAME], tmp_path, mirror="http://127.0.0.1:9", progress=True) == [path]
    assert "already present" in capsys.readouterr().err


def test_modified_local_copy_is_downloaded_again(mirror: str, tmp_path: Path) -> None:
    dest = tmp_path / ENTRY.relative_path
    dest.parent.mkdir(parents=True)
    dest.write_text("[]")
    fetch([NAME], tmp_path, mirror=f"{mirror}/good", progress=False)
    assert sha256_file(dest) == ENTRY.sha256


def test_mirror_from_environment(mirror: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TTS_GYM_MIRROR", f"{mirror}/good")
    assert fetch([NAME], tmp_path, progress=False) == [tmp_path / ENTRY.relative_path]


FAILURES = {
    "checksum": ("bad", "does not match the catalog checksum"),
    "dropped connection": ("drop", "was cut off after {half} of {size} bytes"),
    "stalled connection": ("stall", "stalled (no data for 0.5 s) after {half} of {size} bytes"),
    "404": ("missing", "failed with HTTP 404"),
}


@pytest.mark.parametrize("route, problem", FAILURES.values(), ids=FAILURES.keys())
def test_failed_download_leaves_nothing(
    mirror: str, shared_replay: Path, tmp_path: Path, route: str, problem: str
) -> None:
    data = tmp_path / "data"
    with pytest.raises(StoreError) as caught:
        fetch([NAME], data, mirror=f"{mirror}/{route}", progress=False, timeout=0.5)
    message = str(caught.value)
    assert message.startswith(f"download of {NAME} from {mirror}/{route}/{ENTRY.relative_path} ")
    size = (shared_replay / ENTRY.relative_path).stat().st_size
    assert (
        problem.format(half=size // 2, size=size) in message
        and "nothing was written" in message
        and "\n" not in message
    )
    assert not data.exists()


def test_unreachable_mirror(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="could not start"):
        fetch([NAME], tmp_path / "data", mirror="http://127.0.0.1:9", progress=False)
    assert not (tmp_path / "data").exists()


def test_ctrl_c_leaves_nothing(mirror: str, tmp_path: Path, monkeypatch) -> None:
    class Interrupted(fetch_module.tqdm):
        def update(self, n: float | None = 1) -> bool | None:
            raise KeyboardInterrupt

    monkeypatch.setattr(fetch_module, "tqdm", Interrupted)
    with pytest.raises(StoreError, match="was interrupted after"):
        fetch([NAME], tmp_path / "data", mirror=f"{mirror}/good", progress=False)
    assert not (tmp_path / "data").exists()


def test_existing_folders_are_kept_on_failure(mirror: str, tmp_path: Path) -> None:
    (tmp_path / "autotts" / "keep.txt").parent.mkdir()
    (tmp_path / "autotts" / "keep.txt").write_text("x")
    with pytest.raises(StoreError):
        fetch([NAME], tmp_path, mirror=f"{mirror}/bad", progress=False)
    assert files_under(tmp_path) == [tmp_path / "autotts" / "keep.txt"]


def test_cli_fetch_group_with_mirror(mirror: str, tmp_path: Path, capsys) -> None:
    argv = ["fetch", "search", "--data-dir", str(tmp_path), "--mirror", f"{mirror}/good"]
    assert main([*argv, "--quiet"]) == 0
    printed = capsys.readouterr().out.split()
    expected = [str(tmp_path / CATALOG[name].relative_path) for name in GROUPS["search"]]
    assert printed == expected
    assert all(
        sha256_file(p) == CATALOG[n].sha256 for p, n in zip(printed, GROUPS["search"], strict=True)
    )


def test_cli_fetch_errors_are_one_line(mirror: str, tmp_path: Path, capsys) -> None:
    argv = ["fetch", NAME, "--data-dir", str(tmp_path), "--mirror", f"{mirror}/bad", "--quiet"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("tts-gym fetch: download of") and err.count("\n") == 1
    assert main(["fetch", "autotts/qwen3-8b/aime99", "--data-dir", str(tmp_path)]) == 1
    assert "unknown store name" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["fetch", "--data-dir", str(tmp_path)])
    assert files_under(tmp_path) == []


# ---- leftovers ----------------------------------------------------------------------------
def start_fetch(mirror: str, data: Path, half: int) -> tuple[subprocess.Popen, Path]:
    """A `tts-gym fetch` process stuck halfway through a download, and its partial file."""
    argv = [sys.executable, "-m", "tts_gym.cli", "fetch", NAME, "--quiet"]
    process = subprocess.Popen(
        [*argv, "--data-dir", str(data), "--mirror", f"{mirror}/hang"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    folder = (data / ENTRY.relative_path).parent
    known = set(folder.glob(".*.part")) if folder.exists() else set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        partials = set(folder.glob(".*.part")) - known if folder.exists() else set()
        if partials and (partial := partials.pop()).stat().st_size == half:
            return process, partial
        time.sleep(0.05)
    process.kill()
    raise AssertionError("the fetch never got halfway")


def test_kill_9_leftovers_are_removed_but_never_a_live_fetch(
    mirror: str, shared_replay: Path, tmp_path: Path, capsys
) -> None:
    data = tmp_path / "data"
    dest = data / ENTRY.relative_path
    half = (shared_replay / ENTRY.relative_path).stat().st_size // 2
    killed, leftover = start_fetch(mirror, data, half)
    live, in_progress = start_fetch(mirror, data, half)
    try:
        killed.kill()  # SIGKILL: no handler runs, the partial file stays
        killed.wait(timeout=30)
        assert leftover.exists()
        assert fetch([NAME], data, mirror=f"{mirror}/good", progress=True) == [dest]
        assert "removed 1 partial file(s) of killed fetches" in capsys.readouterr().err
        assert not leftover.exists() and in_progress.exists()  # the live fetch keeps its file
        assert sha256_file(dest) == ENTRY.sha256
    finally:
        live.kill()
        live.wait(timeout=30)
    assert fetch([NAME], data, mirror="http://127.0.0.1:9", progress=False) == [dest]
    assert files_under(data) == [dest]


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare (util-linux)")
@pytest.mark.parametrize(
    "options, problem, where",
    [
        ("ro", "the disk is read-only", ""),
        ("size=1m", "the disk is full", "/autotts/Qwen3-4B"),
    ],
    ids=["read-only", "full"],
)
def test_an_unwritable_data_folder_is_named(
    mirror: str, tmp_path: Path, options: str, problem: str, where: str
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    argv = [sys.executable, "-m", "tts_gym.cli", "fetch", NAME, "--data-dir", str(data), "--quiet"]
    done = in_tmpfs(options, data, [*argv, "--mirror", f"{mirror}/good"])
    assert done.returncode == 1
    assert done.stdout == ""  # `find` listed nothing: no partial file, no folder left
    assert done.stderr == (
        f"tts-gym fetch: cannot write {NAME} into {data}{where} ({problem}); nothing was "
        "written, make that folder writable or choose another data folder with --data-dir or "
        "$TTS_GYM_DATA.\n"
    )


def test_only_unheld_partials_of_the_destination_are_removed(tmp_path: Path) -> None:
    dest = tmp_path / "aime24.json"
    names = [
        ".aime24.json.0123abcd.part",
        ".aime24.json.01234567.tmp",
        ".aime25.json.0123abcd.part",
    ]
    names += [".aime24.json.0123ABCD.part", "aime24.json.0123abcd.part"]
    for name in names:
        (tmp_path / name).write_text("x")
    assert remove_stale_partials(dest) == [tmp_path / names[0]]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[1:])
    with atomic_write(dest) as handle:  # a write holds its own partial file against cleaners
        (partial,) = set(tmp_path.glob(".aime24.json.*.part")) - {tmp_path / names[3]}
        assert remove_stale_partials(dest) == [] and partial.exists()
        handle.write(b"[]")
    assert dest.read_bytes() == b"[]" and not partial.exists()
