"""What the resource-limits test (tests/integration/test_limits.py) and its full version
(bench/limits.py) share: raw-socket clients (a request as bytes, a slow sender, many
held connections), a vault in a child process whose memory is measured under unsigned
bulk posts, and a solo node whose disk fills up.

Everything is bounded: counts are parameters, every wait has a deadline, every child
process is killed on the way out."""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from phrchain.core.tx import build_tx
from phrchain.engine.solo.home import NodeConfig, init_home
from tests.consortium import Consortium
from tests.helpers import CHAIN_ID, VALIDATOR, enc_key, genesis, signing_key
from tests.processes import ENV, ROOT, kill_group, start_node, stop_node, verify_home


# -- raw sockets ------------------------------------------------------------------------------
def raw_request(port: int, head: bytes, timeout: float) -> tuple[int, bytes]:
    """Send ``head`` (and nothing else); the status the server answers and its bytes, or
    status 0 if it closed without an answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        with contextlib.suppress(OSError):  # the server may close while we still send
            sock.sendall(head)
        data = b""
        with contextlib.suppress(OSError):
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    if not data.startswith(b"HTTP/1."):
        return 0, data
    return int(data.split(b" ", 2)[1]), data


def slow_send(port: int, data: bytes, interval: float, limit_s: float,
              head_bytes: int = 0) -> float | None:
    """Send ``data[:head_bytes]`` at once, then one byte every ``interval`` s. Seconds
    until the server closed the connection, or None if it held on for ``limit_s``."""
    with socket.create_connection(("127.0.0.1", port), timeout=limit_s) as sock:
        started = time.monotonic()
        sock.sendall(data[:head_bytes])
        for i in range(head_bytes, len(data)):
            if time.monotonic() - started > limit_s:
                return None
            try:
                sock.sendall(data[i:i + 1])
                if sock.recv(65536, socket.MSG_DONTWAIT) == b"":
                    return time.monotonic() - started
            except BlockingIOError:
                pass
            except OSError:
                return time.monotonic() - started
            time.sleep(interval)
    return None


@contextlib.contextmanager
def hold_connections(port: int, count: int) -> Iterator[list[socket.socket]]:
    """``count`` connections opened at once and held (bounded: closed on exit)."""
    held: list[socket.socket] = []
    try:
        for _ in range(count):
            held.append(socket.create_connection(("127.0.0.1", port), timeout=10))
        yield held
    finally:
        for sock in held:
            sock.close()


# -- a vault's memory under hostile load --------------------------------------------------------
_VAULT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from phrchain.api.server import BackgroundServer
    from phrchain.client.http import NodeClient
    from phrchain.gateway.chain import RemoteChain
    from phrchain.gateway.http import create_vault_app
    from phrchain.gateway.service import Vault, VaultConfig
    from tests.consortium import HOSPITAL_A
    vault = Vault(VaultConfig(Path(sys.argv[1]), flush_interval_s=3600),
                  RemoteChain(NodeClient(sys.argv[2])), HOSPITAL_A.signing_key,
                  HOSPITAL_A.encryption_key)
    with BackgroundServer(create_vault_app(vault)) as url:
        print(url, flush=True)
        time.sleep(float(sys.argv[3]))
""")


def _rss_mib(pid: int, field: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for process {pid}")


def vault_rss_under_unsigned_posts(c: Consortium, tmp: Path, clients: int, posts: int,
                                   body_mib: int, lifetime_s: float = 300) -> dict[str, Any]:
    """A vault in a child process; ``clients`` threads each POST ``posts`` unsigned bodies
    of ``body_mib`` MiB to its bulk route. Its RSS before, at peak (VmHWM) and after."""
    child = subprocess.Popen([sys.executable, "-c", _VAULT, str(tmp / "hostile-vault"),
                              c.api_url, str(lifetime_s)], stdout=subprocess.PIPE, text=True,
                             cwd=ROOT, env=ENV, start_new_session=True)
    try:
        assert child.stdout is not None
        url = child.stdout.readline().strip()
        httpx.get(url + "/v1/vault/info", timeout=10).raise_for_status()
        before = _rss_mib(child.pid)
        body = b"\0" * (body_mib << 20)
        statuses: list[int] = []
        lock = threading.Lock()

        def hostile() -> None:
            with httpx.Client(timeout=120) as http:
                for _ in range(posts):
                    try:
                        status = http.post(url + "/v1/vault/batch", content=body).status_code
                    except httpx.HTTPError:
                        status = 0  # refused by closing: still refused
                    with lock:
                        statuses.append(status)

        started = time.monotonic()
        threads = [threading.Thread(target=hostile) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=lifetime_s)
        elapsed = time.monotonic() - started
        peak, after = _rss_mib(child.pid, "VmHWM"), _rss_mib(child.pid)
        serving = httpx.get(url + "/v1/vault/info", timeout=10).status_code == 200
    finally:
        kill_group(child)
        if child.stdout is not None:
            child.stdout.close()
    return {"posts": len(statuses), "refused": sum(s in (0, 401, 413) for s in statuses),
            "statuses": sorted(set(statuses)), "body_mib": body_mib,
            "rss_before_mib": round(before, 1), "rss_peak_mib": round(peak, 1),
            "rss_after_mib": round(after, 1), "rss_growth_mib": round(peak - before, 1),
            "seconds": round(elapsed, 2), "serving_after": serving}


# -- a full disk ----------------------------------------------------------------------------
def _file_size_limit(limit: int) -> Any:
    def apply() -> None:  # in the child, before exec: writes past ``limit`` get EFBIG
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


class DiskFull:
    """A solo node whose home is on an 8 MiB tmpfs (as root), else whose files may not
    grow past 4 MiB (``RLIMIT_FSIZE``: writes fail with EFBIG, as they would with ENOSPC)."""

    TMPFS_SIZE = "8m"
    FILE_LIMIT = 4 << 20

    def __init__(self, tmp: Path, max_txs: int = 50_000, limit_s: float = 90,
                 use_tmpfs: bool = True) -> None:
        self.mount, self.max_txs, self.limit_s = tmp / "small-disk", max_txs, limit_s
        self.use_tmpfs = use_tmpfs
        self.log = tmp / "node.log"
        self.mode = ""
        self.reported: list[str] = []
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> DiskFull:
        self.mount.mkdir()
        can_mount = self.use_tmpfs and os.geteuid() == 0 and shutil.which("mount") is not None
        mounted = can_mount and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={self.TMPFS_SIZE}", "tmpfs", str(self.mount)],
            capture_output=True, check=False).returncode == 0
        self.mode = "tmpfs" if mounted else "rlimit_fsize"
        self.home = self.mount / "node"
        init_home(self.home, genesis(), VALIDATOR.seed,
                  NodeConfig(block_interval_ms=20, max_block_txs=200))
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            kill_group(self.proc)
        if self.mode == "tmpfs":
            subprocess.run(["umount", "-l", str(self.mount)], capture_output=True, check=False)

    def fill(self) -> dict[str, Any]:
        """Submit txs until the node refuses three times (or ``max_txs``/``limit_s``)."""
        preexec = _file_size_limit(self.FILE_LIMIT) if self.mode == "rlimit_fsize" else None
        self.proc, url = start_node(self.home, self.log, preexec)
        statuses: dict[int, int] = {}
        refusal, admitted, started = "", [], time.monotonic()
        with httpx.Client(base_url=url, timeout=40) as http:
            for i in range(self.max_txs):
                if statuses.get(503, 0) >= 3 or time.monotonic() - started > self.limit_s:
                    break
                raw = build_tx(signing_key(80_000 + i), CHAIN_ID, 1,
                               [{"type": "identity/register_patient", "enc_key": enc_key(i)}])
                answer = http.post("/v1/txs", json={"tx": raw.hex(),
                                                    "wait": "commit" if i % 50 == 49 else "check"})
                statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
                if answer.status_code in (200, 202):
                    admitted.append(answer.json()["hash"])
                elif answer.status_code == 503:
                    refusal = answer.json()["error"]["name"]
            # what the API reports committed now, before the node is stopped
            self.reported = [h for h in admitted
                             if http.get(f"/v1/txs/{h}").json().get("status") == "committed"]
            healthy = http.get("/v1/status").json()["healthy"]
        stop_node(self.proc)
        text = self.log.read_text(errors="replace")
        return {"mode": self.mode, "submitted": sum(statuses.values()),
                "statuses": set(statuses), "refused": statuses.get(503, 0),
                "refusal": refusal, "committed": len(self.reported), "healthy": healthy,
                "failures_logged": text.count("block production failed"),
                "tracebacks": text.count("Traceback"), "seconds": time.monotonic() - started}

    def free(self) -> None:
        """Make room: a larger tmpfs (its data stays), or no file-size limit."""
        if self.mode == "tmpfs":
            subprocess.run(["mount", "-o", "remount,size=64m", str(self.mount)], check=True,
                           capture_output=True)

    def restart_and_check(self) -> dict[str, Any]:
        self.proc, url = start_node(self.home, self.log)
        with httpx.Client(base_url=url, timeout=40) as http:
            lost = [h for h in self.reported
                    if http.get(f"/v1/txs/{h}").json().get("status") != "committed"]
            raw = build_tx(signing_key(79_999), CHAIN_ID, 1,
                           [{"type": "identity/register_patient", "enc_key": enc_key(7)}])
            answer = http.post("/v1/txs", json={"tx": raw.hex(), "wait": "commit"}).json()
        stop_node(self.proc)
        verify = verify_home(self.home)
        return {"checked": len(self.reported), "lost": len(lost),
                "serving": answer.get("status") == "committed",
                "verify_rc": verify.returncode, "verify": verify.stdout.strip()}
