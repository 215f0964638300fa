"""A 300 MB body sent to a real uvicorn server, without a token: refused with 413 (or 401) before
more than the route's limit is read, with the API's memory within 50 MB of idle (issue 12)."""

from __future__ import annotations

import select
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from payrecon.store.db import upgrade_schema
from tests.e2e.api_server import Server, serve_api
from tests.e2e.conftest import API_SECRET
from tests.integration.test_api_balances import bearer

BODY = 300 * 1024 * 1024
CHUNK = 64 * 1024
MiB = 1024 * 1024
UPLOAD_LIMIT = 4 * MiB  # the test server's PAYRECON_MAX_UPLOAD_BYTES
HEADROOM = 50 * MiB


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("limits")
    url = f"sqlite:///{tmp / 'payrecon.db'}"
    upgrade_schema(url)
    with serve_api(tmp, url, max_upload_bytes=str(UPLOAD_LIMIT)) as running:
        yield running


@dataclass
class Sent:
    status: int
    sent: int  # bytes of body the client managed to hand to the socket
    peak_rss: int


def send_huge_body(
    server: Server, path: str, headers: dict[str, str], *, chunked: bool, prefix: bytes = b""
) -> Sent:
    """POST `BODY` bytes (`prefix`, then filler) to `path`, stopping as soon as the server
    answers (or hangs up), while a thread samples the server's RSS."""
    peak = server.rss()
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, server.rss())
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{server.port}", "Connection: close"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {BODY}")
    sent = 0
    reply = b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        if prefix:
            sock.sendall(f"{len(prefix):x}\r\n".encode() + prefix + b"\r\n" if chunked else prefix)
            sent += len(prefix)
        chunk = b"x" * CHUNK
        frame = f"{CHUNK:x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk
        try:
            while sent < BODY:
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:
                    break
                _, writable, _ = select.select([], [sock], [], 5)
                if not writable:
                    continue  # the server reads no more; its answer is on the way
                sock.sendall(frame)
                sent += CHUNK
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            while part := sock.recv(65536):
                reply += part
        except (ConnectionResetError, TimeoutError):
            pass
    done.set()
    sampler.join()
    status_line = reply.split(b"\r\n", 1)[0].decode()
    assert status_line.startswith("HTTP/1.1 "), reply[:200]
    return Sent(int(status_line.split()[1]), sent, peak)


@pytest.mark.parametrize("kind", ["stripe", "gocardless"])
@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_a_huge_webhook_body_is_refused_before_it_is_read(
    server: Server, kind: str, chunked: bool
) -> None:
    idle = server.rss()
    sent = send_huge_body(server, f"/v1/webhooks/{kind}/1", {}, chunked=chunked)
    assert sent.status == 413
    assert sent.peak_rss - idle < HEADROOM, (idle, sent.peak_rss)
    assert sent.sent < 64 * MiB, sent.sent  # the server stopped reading long before 300 MB
    sys.stdout.write(
        f"{kind} chunked={chunked}: idle {idle} peak {sent.peak_rss} sent {sent.sent}\n"
    )


FILE_PART = (
    b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.xml"\r\n'
    b"Content-Type: application/xml\r\n\r\n"
)


def test_a_huge_upload_without_a_token_is_refused_unread(server: Server) -> None:
    idle = server.rss()
    sent = send_huge_body(
        server,
        "/v1/feeds",
        {"Content-Type": "multipart/form-data; boundary=b"},
        chunked=True,
        prefix=FILE_PART,
    )
    assert sent.status == 401
    assert sent.peak_rss - idle < HEADROOM, (idle, sent.peak_rss)
    assert sent.sent < 64 * MiB, sent.sent
    sys.stdout.write(f"feeds without a token: idle {idle} peak {sent.peak_rss} sent {sent.sent}\n")


def test_a_huge_upload_with_a_token_stops_at_the_upload_limit(server: Server) -> None:
    idle = server.rss()
    headers = {
        "Content-Type": "multipart/form-data; boundary=b",
        "Authorization": bearer("write", secret=API_SECRET)["Authorization"],
    }
    sent = send_huge_body(server, "/v1/feeds", headers, chunked=True, prefix=FILE_PART)
    assert sent.status == 413
    assert sent.peak_rss - idle < HEADROOM, (idle, sent.peak_rss)
    assert sent.sent < UPLOAD_LIMIT + 64 * MiB, sent.sent
    sys.stdout.write(f"feeds with a token: idle {idle} peak {sent.peak_rss} sent {sent.sent}\n")
    small = httpx.post(
        f"{server.url}/v1/feeds",
        files={"file": ("big.xml", b"<x/>" * (UPLOAD_LIMIT // 4 + 1))},
        headers={"Authorization": headers["Authorization"]},
        timeout=30,
    )
    assert small.status_code == 413, small.text
    assert small.json()["code"] in {"upload_too_large", "body_too_large"}
