"""Throws malformed HTTP at a running serve and checks that every answer is
a clean refusal and that the service never stops answering.

Each case is a valid request (one of several seeds) mutated at random:
bytes flipped, inserted or cut, header lines repeated or made huge, a
chunked body broken or ending in a huge trailer field, the method or target garbled, NUL and control bytes,
several requests pipelined. A connection must end with an HTTP status line
the server means to give a bad request (400, 401, 404, 405, 413, 431, or
200/202/409/412 when the mutation left the request valid) or with the
server closing it; never a 500, never a hang past the server's deadline,
and /healthz answers after every batch.

usage: http_fuzz.py PORT CASES SEED
"""
import random
import socket
import sys
import time

port, cases, seed = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)

SEEDS = [
    b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /api/v1/runs/12 HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n",
    b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"POST /api/v1/cutover?dry_run=true HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer abc\r\n"
    b"Content-Length: 5\r\n\r\nhello",
    b"POST /api/v1/verify?table=public.t%20x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n0\r\n\r\n",
    b"GET /api/v1/mismatches?limit=10 HTTP/1.0\r\n\r\n",
]
ALLOWED = {200, 202, 400, 401, 404, 405, 409, 412, 413, 431, 503}


def mutate(data: bytes) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        choice = rng.randrange(9)
        at = rng.randrange(len(data) + 1)
        if choice == 0 and data:  # flip a byte
            data[min(at, len(data) - 1)] = rng.randrange(256)
        elif choice == 1:  # insert junk
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 40)))
        elif choice == 2:  # cut
            del data[at:at + rng.randint(1, 30)]
        elif choice == 3:  # a huge header
            data[at:at] = b"X-Big: " + b"a" * rng.choice([100, 5000, 9000, 70000]) + b"\r\n"
        elif choice == 4:  # repeat a header line
            data[at:at] = b"Content-Length: %d\r\n" % rng.choice([0, 3, 10**12, -1])
        elif choice == 5:  # control and NUL bytes
            data[at:at] = bytes(rng.choice([0, 1, 10, 13, 127]) for _ in range(rng.randint(1, 8)))
        elif choice == 6 and rng.random() < 0.2:  # a chunked body with a huge trailer field
            data = bytearray(b"POST /api/v1/verify HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                             b"5\r\nhello\r\n0\r\nX-Trailer: " + b"t" * rng.choice([100, 70000]) + b"\r\n\r\n")
        elif choice == 6:  # a broken chunk
            data[at:at] = rng.choice([b"zz\r\n", b"ffffffffffffffff\r\n", b"\r\n0\r\n", b"-1\r\n"])
        elif choice == 7:  # a strange target
            data[at:at] = rng.choice([b"%", b"%zz", b"?&&==", b"/../../", b"#", b" ", b"\t"])
        else:  # pipeline another request
            data += rng.choice(SEEDS)
    return bytes(data)


def statuses(reply: bytes):
    for line in reply.split(b"\r\n"):
        if line.startswith(b"HTTP/1."):
            parts = line.split(b" ")
            if len(parts) >= 2 and parts[1].isdigit():
                yield int(parts[1])


def send(payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=40) as s:
        try:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server closed first: fine
        reply = b""
        started = time.monotonic()
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            reply += chunk
            if time.monotonic() - started > 40:
                raise SystemExit("FAIL: a connection kept open past the deadline")
        return reply


def healthy():
    reply = send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    return list(statuses(reply))[:1] == [200]


seen = {}
for case in range(cases):
    payload = mutate(rng.choice(SEEDS))
    reply = send(payload)
    for status in statuses(reply):
        seen[status] = seen.get(status, 0) + 1
        if status not in ALLOWED:
            raise SystemExit(f"FAIL: case {case} got {status}: {payload[:200]!r} -> {reply[:300]!r}")
    if case % 100 == 99 and not healthy():
        raise SystemExit(f"FAIL: /healthz does not answer after case {case}")
if not healthy():
    raise SystemExit("FAIL: /healthz does not answer at the end")
print(f"ok: {cases} malformed requests (seed {seed}); answers {dict(sorted(seen.items()))}")
