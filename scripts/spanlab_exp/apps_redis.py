"""The redis application workload: redis-server under the allocator being measured,
loaded by redis-benchmark (not under it), with a data check before and after.

Only loopback: the server binds 127.0.0.1 on a free port, without persistence (no
RDB snapshots, no AOF) in a temporary directory. Every wait is bounded in time and
every request loop in count. The server is stopped with SHUTDOWN NOSAVE and its
exit status must be 0.
"""

from __future__ import annotations

import csv
import io
import os
import socket
import subprocess
import time
from pathlib import Path

from .apps import Outcome, WrongAnswer

BENCH_TESTS = "set,get,incr,lpush,lpop,sadd,hset,zadd"
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def server_argv(program: str, port: int, workdir: Path) -> list[str]:
    return [program, "--port", str(port), "--bind", LOOPBACK, "--save", "",
            "--appendonly", "no", "--dir", str(workdir), "--daemonize", "no",
            "--protected-mode", "yes", "--logfile", "", "--databases", "1"]


class Resp:
    """A minimal RESP2 client over one loopback connection (bounded by a timeout)."""

    def __init__(self, port: int, timeout: float):
        self.sock = socket.create_connection((LOOPBACK, port), timeout=timeout)
        self.buf = b""

    def close(self) -> None:
        self.sock.close()

    def send(self, *args: bytes | str) -> None:
        parts = [b"*%d\r\n" % len(args)]
        for a in args:
            b = a.encode() if isinstance(a, str) else a
            parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.sock.sendall(b"".join(parts))

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b"-"):
            return rest.decode() if kind == b"+" else RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("redis closed the connection")
                self.buf += chunk
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if kind == b"*":
            return [self.reply() for _ in range(int(rest))]
        raise ConnectionError(f"unexpected reply {line[:40]!r}")

    def call(self, *args):
        self.send(*args)
        return self.reply()


def check_value(i: int, size: int) -> bytes:
    seed = f"spanlab-{i}-".encode()
    return (seed * (size // len(seed) + 1))[:size]


def data_check(r: Resp, n: int, size: int, write: bool) -> None:
    """Write n keys (if write) and read every one back, pipelined in batches."""
    batch = 200
    for start in range(0, n, batch):
        ids = range(start, min(start + batch, n))
        if write:
            for i in ids:
                r.send("SET", f"spanlab:check:{i}", check_value(i, size))
            for i in ids:
                if r.reply() != "OK":
                    raise WrongAnswer(f"redis: SET spanlab:check:{i} was not OK")
        for i in ids:
            r.send("GET", f"spanlab:check:{i}")
        for i in ids:
            got = r.reply()
            if got != check_value(i, size):
                raise WrongAnswer(f"redis: GET spanlab:check:{i} returned "
                                  f"{(got or b'')[:24]!r}..., not what was written")


def wait_ready(port: int, deadline: float, alive) -> None:
    while True:
        try:
            r = Resp(port, timeout=1.0)
            try:
                if r.call("PING") == "PONG":
                    return
            finally:
                r.close()
        except OSError:
            pass
        if not alive():
            raise WrongAnswer("redis-server exited before it answered PING")
        if time.monotonic() > deadline:
            raise TimeoutError("redis-server did not answer PING in time")
        time.sleep(0.02)


def parse_benchmark_csv(text: str) -> dict[str, float]:
    """{test: requests per second} from redis-benchmark --csv."""
    out = {}
    for row in csv.reader(io.StringIO(text)):
        if len(row) >= 2 and row[0] != "test":
            try:
                out[row[0]] = float(row[1])
            except ValueError:
                continue
    return out


def run_load(port: int, p: dict, deadline: float) -> Outcome:
    """redis-benchmark without and with pipelining; the metric is the requests of all
    its tests over the time they took (requests / sum of requests/rate)."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    n = int(p["requests"])
    total_req = 0
    total_s = 0.0
    rates = {}
    for pipe in sorted({1, int(p["pipeline"])}):
        argv = ["redis-benchmark", "-h", LOOPBACK, "-p", str(port), "-c", str(int(p["clients"])),
                "-n", str(n), "-r", str(int(p["keys"])), "-d", str(int(p["value-size"])),
                "-t", BENCH_TESTS, "-P", str(pipe), "--csv"]
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no time left for redis-benchmark")
        r = subprocess.run(argv, capture_output=True, text=True, timeout=left, env=env,
                           stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise WrongAnswer(f"redis-benchmark -P {pipe} exited {r.returncode}: "
                              f"{(r.stderr.strip().splitlines() or [''])[-1]}")
        got = parse_benchmark_csv(r.stdout)
        want = {t.upper() for t in BENCH_TESTS.split(",")}
        names = {k.split(" ")[0] for k in got}
        if not want <= names:
            raise WrongAnswer(f"redis-benchmark -P {pipe}: missing results for "
                              f"{sorted(want - names)}")
        for test, rps in got.items():
            if rps <= 0:
                raise WrongAnswer(f"redis-benchmark: {test} reported {rps} requests/s")
            rates[f"P{pipe} {test}"] = rps
            total_req += n
            total_s += n / rps
    return Outcome(total_req, "requests/s", total_req / total_s, {"rates": rates})
