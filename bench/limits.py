"""The resource-limits campaign, full version (issue 13), against the node API and a vault
on 127.0.0.1 with their default limits (``phrchain.api.connections.ServerLimits``, what
``phrchain start`` and ``phrchain vault serve`` use): for each case, how it was refused,
how long that took and whether the server still served afterwards.

- body: a declared 4 GiB body (nothing sent), and for the node a 200 KiB one;
- headers: 2000 small headers, one 64 KiB header;
- slow clients: a head sent a byte per ``--drip`` s; a body sent at 40 bytes/s;
- connections: ``--connections`` idle sockets at once (service while held; time until the
  server has closed them all), and as many simultaneous requests;
- vault memory: ``--clients`` x ``--posts`` unsigned ``--body-mib`` MiB bulk posts; RSS
  before, at peak (VmHWM) and after, against the stated bound ``--rss-bound-mib``;
- full disk: a node on an 8 MiB tmpfs (as root; else RLIMIT_FSIZE) filled with txs:
  refusal, committed txs lost after space is freed, ``verify``.

Last line: ``{"bench": "limits", "cases": {...}, "all_ok": true|false}``.

    PYTHONPATH=src python bench/limits.py [--connections 500] [--body-mib 64]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.consortium import HOSPITAL_A, running
from tests.limits_harness import (
    DiskFull,
    hold_connections,
    raw_request,
    slow_send,
    vault_rss_under_unsigned_posts,
)

from phrchain.api.connections import ServerLimits
from phrchain.api.server import BackgroundServer, create_app
from phrchain.gateway.http import create_vault_app

STATUS = {"node": "/v1/status", "vault": "/v1/vault/info"}
BULK = {"node": "/v1/txs", "vault": "/v1/vault/batch"}
# --quick: the short slow-client deadlines tests/integration/test_limits.py uses, so the
# slow-head, slow-body and idle cases each wait about a second, not ten.
QUICK_LIMITS = ServerLimits(head_timeout_s=1.0, check_interval_s=0.5, keep_alive_s=1.0)


def _serving(url: str, target: str) -> bool:
    try:
        return httpx.get(url + STATUS[target], timeout=10).status_code == 200
    except httpx.HTTPError:
        return False


def _timed(fn: Any, *args: Any, **kw: Any) -> tuple[Any, float]:
    started = time.monotonic()
    value = fn(*args, **kw)
    return value, round(time.monotonic() - started, 2)


def http_cases(url: str, target: str, args: argparse.Namespace, limits: ServerLimits
               ) -> dict[str, Any]:
    port, out = int(url.rsplit(":", 1)[1]), {}
    head = (f"POST {BULK[target]} HTTP/1.1\r\nHost: x\r\nContent-Length: {4 << 30}\r\n"
            "Content-Type: application/json\r\n\r\n").encode()
    (status, _), seconds = _timed(raw_request, port, head, timeout=60)
    out["declared_4gib_body"] = {"status": status, "seconds": seconds,
                                 "ok": status in (401, 413) and seconds < 5}
    if target == "node":
        body = b'{"tx": "' + b"00" * 100_000 + b'"}'
        answer = httpx.post(url + "/v1/txs", content=body, timeout=30,
                            headers={"content-type": "application/json"})
        out["body_200kib"] = {"status": answer.status_code, "ok": answer.status_code == 413}
    for shape, pad in (("headers_2000", "".join(f"X-Pad-{i}: {'a' * 20}\r\n"
                                                for i in range(2000))),
                       ("header_64kib", f"X-Pad: {'a' * 65536}\r\n")):
        status, _ = raw_request(port, f"GET {STATUS[target]} HTTP/1.1\r\nHost: x\r\n{pad}\r\n"
                                .encode(), timeout=30)
        out[shape] = {"status": status, "ok": status in (400, 431)}
    slow_head = f"GET {STATUS[target]} HTTP/1.1\r\nHost: x\r\nX-Slow: {'a' * 200}".encode()
    closed = slow_send(port, slow_head, interval=args.drip, limit_s=60)
    out["slow_head"] = {"closed_after_s": closed and round(closed, 1),
                        "ok": closed is not None and closed < limits.head_timeout_s + 2}
    body_head = (f"POST {BULK[target]} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
                 "\r\n").encode()
    closed = slow_send(port, body_head + b"0" * 4000, interval=0.025, limit_s=60,
                       head_bytes=len(body_head))
    out["slow_body"] = {"closed_after_s": closed and round(closed, 1),
                        "ok": closed is not None and closed < 2 * limits.check_interval_s + 2}
    out["idle_connections"] = _idle(url, port, target, args.connections, limits)
    out["simultaneous_requests"] = _simultaneous(port, target, args.connections)
    for case in out.values():
        case["serving_after"] = _serving(url, target)
        case["ok"] = case["ok"] and case["serving_after"]
    return out


def _idle(url: str, port: int, target: str, count: int, limits: ServerLimits
          ) -> dict[str, Any]:
    with hold_connections(port, count) as held:
        (served), latency = _timed(_serving, url, target)
        started, open_ = time.monotonic(), list(held)
        while open_ and time.monotonic() - started < limits.head_timeout_s + 20:
            time.sleep(0.25)
            open_ = [s for s in open_ if not _closed(s)]
        return {"held": count, "served_while_held": served, "latency_s": latency,
                "all_closed_after_s": round(time.monotonic() - started, 1),
                "still_open": len(open_), "ok": served and not open_}


def _closed(sock: Any) -> bool:
    import socket

    try:
        return bool(sock.recv(65536, socket.MSG_DONTWAIT) == b"")
    except BlockingIOError:
        return False
    except OSError:
        return True


def _simultaneous(port: int, target: str, count: int) -> dict[str, Any]:
    request = f"GET {STATUS[target]} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    started = time.monotonic()
    statuses: dict[int, int] = {}
    with hold_connections(port, count) as held:
        for sock in held:
            sock.sendall(request)
        for sock in held:
            sock.settimeout(30)
            try:
                data = sock.recv(4096)
                status = int(data.split(b" ", 2)[1]) if data else 0
            except OSError:
                status = 0
            statuses[status] = statuses.get(status, 0) + 1
    return {"requests": count, "statuses": statuses,
            "seconds": round(time.monotonic() - started, 2),
            "ok": set(statuses) <= {200, 503} and statuses.get(200, 0) > 0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=500)
    parser.add_argument("--drip", type=float, default=1.0, help="seconds between bytes")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--posts", type=int, default=4)
    parser.add_argument("--body-mib", type=int, default=64)
    parser.add_argument("--rss-bound-mib", type=float, default=64,
                        help="stated bound on the vault's RSS growth under hostile posts")
    parser.add_argument("--no-disk", action="store_true", help="skip the full-disk case")
    parser.add_argument("--quick", action="store_true",
                        help="50 connections, 0.2 s drip, 2 clients x 2 posts of 8 MiB, and "
                             "the slow-client deadlines of tests/integration/test_limits.py")
    args = parser.parse_args()
    limits = ServerLimits()
    if args.quick:
        args.connections, args.drip, args.clients, args.posts = 50, 0.2, 2, 2
        args.body_mib = 8
        limits = QUICK_LIMITS
    cases: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="phr-limits-") as tmp:
        with running(Path(tmp) / "http") as c, \
                BackgroundServer(create_app(c.node), limits=limits) as node_url, \
                BackgroundServer(create_vault_app(c.vaults[HOSPITAL_A.did]),
                                 limits=limits) as vault_url:
            for target, url in (("node", node_url), ("vault", vault_url)):
                for name, case in http_cases(url, target, args, limits).items():
                    cases[f"{target}.{name}"] = case
        with running(Path(tmp) / "rss") as c:
            rss = vault_rss_under_unsigned_posts(c, Path(tmp), args.clients, args.posts,
                                                 args.body_mib)
        rss["bound_mib"] = args.rss_bound_mib
        rss["ok"] = rss["rss_growth_mib"] < args.rss_bound_mib and rss["serving_after"] \
            and rss["refused"] == rss["posts"]
        cases["vault.memory_unsigned_posts"] = rss
        if not args.no_disk:
            cases["node.full_disk"] = _disk(Path(tmp))
    for name, case in cases.items():
        figures = ", ".join(f"{k} {v}" for k, v in case.items() if k != "ok")
        print(f"{'ok  ' if case['ok'] else 'FAIL'} {name:<34} {figures}")
    ok = all(case["ok"] for case in cases.values())
    print(json.dumps({"bench": "limits", "cases": cases, "all_ok": ok}, default=str))
    return 0 if ok else 1


def _disk(tmp: Path) -> dict[str, Any]:
    with DiskFull(tmp) as disk:
        filled = disk.fill()
        disk.free()
        after = disk.restart_and_check()
    return {"mode": filled["mode"], "txs_submitted": filled["submitted"],
            "committed_before_full": filled["committed"], "refusal": filled["refusal"],
            "refused": filled["refused"], "failures_logged": filled["failures_logged"],
            "tracebacks": filled["tracebacks"], "lost": after["lost"],
            "serving_after_restart": after["serving"], "verify_rc": after["verify_rc"],
            "ok": filled["refusal"] == "node_stopped" and after["lost"] == 0
            and after["serving"] and after["verify_rc"] == 0}


if __name__ == "__main__":
    sys.exit(main())
