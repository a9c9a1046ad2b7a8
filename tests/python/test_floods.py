"""Floods from callers without a token, made with raw sockets (a client
library would hide what the server allows): the server's own limits, not the
caller's manners, keep memory bounded and new callers served."""

from __future__ import annotations

import os
import signal
import socket
import struct
import threading
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc  # type: ignore[import-untyped]

from conftest import free_port, start_server, stop_server, write_tokens_file
from modelreg_client._generated.modelregistry.v1 import registry_pb2 as pb
from modelreg_client._generated.modelregistry.v1 import registry_pb2_grpc as pb_grpc

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
HEADERS, RST_STREAM, SETTINGS, GOAWAY = 0x1, 0x3, 0x4, 0x7
END_HEADERS, ACK = 0x4, 0x1
SETTINGS_MAX_CONCURRENT_STREAMS = 0x3


def frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def literal(name: str, value: str) -> bytes:
    """An HPACK literal header field without indexing (no Huffman)."""
    assert len(name) < 127 and len(value) < 127
    return b"\x00" + bytes([len(name)]) + name.encode() + bytes([len(value)]) + value.encode()


def call_headers(path: str, authority: str) -> bytes:
    """The header block of a gRPC call to `path`, without a token."""
    return b"".join(
        literal(name, value)
        for name, value in [
            (":method", "POST"),
            (":scheme", "http"),
            (":path", path),
            (":authority", authority),
            ("content-type", "application/grpc"),
            ("te", "trailers"),
        ]
    )


def read_frame(sock: socket.socket) -> tuple[int, int, int, bytes]:
    header = read_exactly(sock, 9)
    length = int.from_bytes(header[:3], "big")
    stream = int.from_bytes(header[5:9], "big") & 0x7FFF_FFFF
    return header[3], header[4], stream, read_exactly(sock, length)


def read_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def new_caller_is_served(address: str) -> float:
    """A fresh TCP connection (a channel of its own, not grpcio's shared
    subchannel) asks health and lists models; the seconds it took."""
    started = time.monotonic()
    options = [("grpc.use_local_subchannel_pool", 1)]
    with grpc.insecure_channel(address, options=options) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        status = health.Check(health_pb2.HealthCheckRequest(), timeout=5).status
        assert status == health_pb2.HealthCheckResponse.SERVING
        pb_grpc.RegistryServiceStub(channel).ListModels(pb.ListModelsRequest(), timeout=5)
    return time.monotonic() - started


def test_twenty_thousand_streams_on_one_connection_are_refused_past_the_limit(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        pid = server.process.pid
        new_caller_is_served(server.address)
        idle = rss_kib(pid)
        host, port = server.address.rsplit(":", 1)
        sock = socket.create_connection((host, int(port)))
        sock.sendall(PREFACE + frame(SETTINGS, 0, 0))
        kind, flags, _, payload = read_frame(sock)
        assert (kind, flags) == (SETTINGS, 0), "the server speaks first with its SETTINGS"
        settings = dict(struct.unpack(">HI", payload[i : i + 6]) for i in range(0, len(payload), 6))
        assert settings.get(SETTINGS_MAX_CONCURRENT_STREAMS) == 100, settings
        sock.sendall(frame(SETTINGS, ACK, 0))

        refused = 0
        goaway = threading.Event()
        done = threading.Event()

        def drain() -> None:
            nonlocal refused
            try:
                while not done.is_set():
                    kind, _, _, _ = read_frame(sock)
                    if kind == RST_STREAM:
                        refused += 1
                    elif kind == GOAWAY:
                        goaway.set()
            except (ConnectionError, OSError):
                goaway.set()

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        block = call_headers("/grpc.health.v1.Health/Watch", server.address)
        # Twenty thousand calls opened and never finished (no request body,
        # no token), sent as fast as the socket takes them.
        peak = idle
        opened = 0
        try:
            for batch in range(200):
                frames = b"".join(frame(HEADERS, END_HEADERS, 1 + 2 * (batch * 100 + i), block) for i in range(100))
                sock.sendall(frames)
                opened += 100
                if batch % 20 == 0:
                    peak = max(peak, rss_kib(pid))
                    assert new_caller_is_served(server.address) < 3
        except OSError:
            pass  # the server may close the connection (GOAWAY): also a refusal
        peak = max(peak, rss_kib(pid))
        took = new_caller_is_served(server.address)

        assert opened >= 100
        assert refused >= opened - 100 or goaway.is_set(), (opened, refused)
        assert took < 3, f"a new caller took {took:.2f} s during the flood"
        assert peak - idle < 64 * 1024, f"RSS grew by {(peak - idle) // 1024} MiB during the flood"
        done.set()
        sock.close()
        deadline = time.monotonic() + 10
        while rss_kib(pid) - idle > 32 * 1024 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert rss_kib(pid) - idle <= 32 * 1024, "memory held after the flood ended"
        assert new_caller_is_served(server.address) < 3
    finally:
        stop_server(server)


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def console_answers(address: str, timeout: float) -> float:
    """A fresh connection GETs the console's front page; the seconds it took."""
    started = time.monotonic()
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(f"GET / HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n".encode())
        assert sock.recv(12).startswith(b"HTTP/1.1 200")
    return time.monotonic() - started


def test_silent_console_connections_cannot_take_the_grpc_port_down(tmp_path: Path) -> None:
    """300 console connections that never send a byte, against a server
    whose file-descriptor limit is 256: the console holds at most its
    --web-max-connections, gRPC callers on fresh connections are served
    throughout, and the console answers again once the silent sockets are
    closed for their silence."""
    web = f"127.0.0.1:{free_port()}"
    server = start_server(
        tmp_path, "--web-listen", web, "--handshake-timeout", "2s", open_files=256, log="flood.log"
    )
    silent: list[socket.socket] = []
    try:
        host, port = web.rsplit(":", 1)
        console_answers(web, 5)
        for _ in range(300):
            sock = socket.socket()
            sock.settimeout(1)
            try:
                sock.connect((host, int(port)))
            except OSError:
                sock.close()
                continue
            silent.append(sock)
        assert len(silent) >= 200, "the kernel took the connections into the backlog"
        worst = max(new_caller_is_served(server.address) for _ in range(5))
        assert worst < 2, f"a new gRPC caller took {worst:.2f} s during the flood"
        assert open_files(server.process.pid) < 200
        # Each silent socket is closed after 2 s; the backlog drains in
        # rounds of --web-max-connections (64).
        took = console_answers(web, 30)
        assert took < 20, f"the console answered after {took:.1f} s"
        assert new_caller_is_served(server.address) < 2
        log = (tmp_path / "flood.log").read_text()
        assert "Too many open files" not in log, log
    finally:
        for sock in silent:
            sock.close()
        stop_server(server)


def test_connections_that_only_open_cannot_lock_callers_out(tmp_path: Path) -> None:
    """With --max-connections 8, eight sockets that send the HTTP/2 preface
    and SETTINGS and then nothing hold every slot: each new caller takes the
    slot of the oldest one (it started no call), at once."""
    server = start_server(tmp_path, "--max-connections", "8")
    openers: list[socket.socket] = []
    try:
        host, port = server.address.rsplit(":", 1)
        for _ in range(8):
            sock = socket.create_connection((host, int(port)))
            sock.sendall(PREFACE + frame(SETTINGS, 0, 0))
            openers.append(sock)
        time.sleep(0.2)  # let the server accept them all
        for _ in range(5):
            took = new_caller_is_served(server.address)
            assert took < 2, f"a new caller took {took:.2f} s"
        closed = 0
        for sock in openers:
            sock.settimeout(0.5)
            try:
                while sock.recv(4096):
                    pass
                closed += 1
            except OSError:
                pass
        assert closed >= 1, "the server closed openers to make room"
    finally:
        for sock in openers:
            sock.close()
        stop_server(server)


def test_guessing_tokens_is_logged_by_peer_and_slowed(tmp_path: Path) -> None:
    """Wrong tokens: the first few are refused at once, then each refusal
    from that address waits twice as long as the one before; the log names
    the address in one line (not one per guess); a valid token from the
    same address is not delayed."""
    write_tokens_file(tmp_path, ("dashboards", "reader", "a-valid-token-of-the-dashboards"))
    server = start_server(tmp_path, "--auth-tokens", "tokens.toml", log="guesses.log")
    try:
        took: list[float] = []
        with grpc.insecure_channel(server.address) as channel:
            stub = pb_grpc.RegistryServiceStub(channel)
            for guess in range(15):
                started = time.monotonic()
                try:
                    stub.ListModels(pb.ListModelsRequest(), metadata=[("authorization", f"Bearer guess-{guess}")], timeout=10)
                except grpc.RpcError as error:
                    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
                took.append(time.monotonic() - started)
            started = time.monotonic()
            stub.ListModels(
                pb.ListModelsRequest(), metadata=[("authorization", "Bearer a-valid-token-of-the-dashboards")], timeout=10
            )
            valid = time.monotonic() - started
        assert max(took[:10]) < 0.5, took
        assert took[14] >= 0.7, f"the fifteenth guess waited {took[14]:.2f} s"
        assert sum(took) >= 1.4, took
        assert valid < 0.5, f"a valid token waited {valid:.2f} s"
        lines = [line for line in (tmp_path / "guesses.log").read_text().splitlines() if "authentication failed" in line]
        assert 1 <= len(lines) < 15, lines
        assert "127.0.0.1" in lines[0], lines[0]
        assert "guess-" not in "\n".join(lines), "tokens never reach the log"
    finally:
        stop_server(server)


SETTINGS_INITIAL_WINDOW_SIZE = 0x4
DATA, WINDOW_UPDATE, END_STREAM = 0x0, 0x8, 0x1
LARGEST_WINDOW = 2**31 - 1


def test_a_watcher_that_stops_reading_does_not_hold_shutdown(tmp_path: Path) -> None:
    """A watcher that opens a wide flow-control window and then stops
    reading its socket: the server's writes to it block once the socket
    buffers are full, so it cannot be sent its stream's end. Shutdown must
    not wait for it through the whole grace period."""
    from modelreg_client import RegistryClient
    from test_memory import large_version

    server = start_server(tmp_path, "--shutdown-grace", "30s")
    try:
        options = [("grpc.max_send_message_length", 8 << 20)]
        with grpc.insecure_channel(server.address, options=options) as channel:
            stub = pb_grpc.RegistryServiceStub(channel)
            for number in range(2):
                stub.RegisterModel(large_version(number), timeout=30)
        with RegistryClient(server.address) as client:
            client.set_production_model("wide", 1, reason="first")
            host, port = server.address.rsplit(":", 1)
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect((host, int(port)))
            settings = struct.pack(">HI", SETTINGS_INITIAL_WINDOW_SIZE, LARGEST_WINDOW)
            widen = frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", LARGEST_WINDOW - 65535))
            sock.sendall(PREFACE + frame(SETTINGS, 0, 0, settings))
            block = call_headers("/modelregistry.v1.RegistryService/WatchModelAlias", server.address)
            message = pb.WatchModelAliasRequest(model_name="wide", alias="production").SerializeToString()
            body = b"\x00" + struct.pack(">I", len(message)) + message
            sock.sendall(frame(HEADERS, END_HEADERS, 1, block) + frame(DATA, END_STREAM, 1, body) + widen)
            deadline = time.monotonic() + 10
            while True:
                assert time.monotonic() < deadline, "no response headers"
                kind, flags, stream, _ = read_frame(sock)
                if kind == SETTINGS and not flags & ACK:
                    sock.sendall(frame(SETTINGS, ACK, 0))
                if (kind, stream) == (HEADERS, 1):
                    assert not flags & END_STREAM, "the watch was refused"
                    break
            # From here on the watcher reads nothing: each move sends it the
            # 3.5 MB version, more than the sockets' buffers hold.
            for version in [2, 1, 2, 1]:
                client.set_production_model("wide", version, reason="back and forth")

        stopping = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=40) == 0
        took = time.monotonic() - stopping
        assert took < 5, f"the stalled watcher held shutdown {took:.1f} s (grace 30 s)"
        sock.close()
    finally:
        stop_server(server)
