#!/usr/bin/env python3
"""Holds N open event streams (GET /events) on one server, then announces one new ticket and
reports how many streams heard it and how fast. Prints one line per figure.

    python3 bench/streams.py http://127.0.0.1:5099 sop_token 1000
"""
import json
import selectors
import socket
import sys
import time
import urllib.request
from urllib.parse import urlparse

base, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
url = urlparse(base)
request = (
    f"GET /events HTTP/1.1\r\nHost: {url.netloc}\r\nAccept: text/event-stream\r\n"
    f"Authorization: Bearer {token}\r\n\r\n"
).encode()

start = time.monotonic()
socks = []
for _ in range(n):
    s = socket.create_connection((url.hostname, url.port), timeout=10)
    s.sendall(request)
    socks.append(s)
ok = 0
for s in socks:
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    if head.startswith(b"HTTP/1.1 200") and b"text/event-stream" in head:
        ok += 1
    s.setblocking(False)
print(f"streams open: {ok} of {n} answered 200 text/event-stream in {time.monotonic() - start:.2f} s")
print("READY", flush=True)
# The caller reads the server's memory now; then we announce a ticket.
sys.stdin.readline()

body = json.dumps({"from": "bench@cliente.pe", "subject": "Streams", "body": "x"}).encode()
sent = time.monotonic()
urllib.request.urlopen(
    urllib.request.Request(f"{base}/intake/email", data=body, headers={"Content-Type": "application/json"})
).read()
sel = selectors.DefaultSelector()
for s in socks:
    sel.register(s, selectors.EVENT_READ, bytearray())
heard, last = 0, 0.0
deadline = sent + 10
while heard < ok and time.monotonic() < deadline:
    for key, _ in sel.select(timeout=0.5):
        try:
            data = key.fileobj.recv(65536)
        except BlockingIOError:
            continue
        buf = key.data
        buf += data
        if b"event: incidencia" in buf:
            heard += 1
            last = time.monotonic() - sent
            sel.unregister(key.fileobj)
print(f"streams that heard the new ticket: {heard} of {ok}, the last after {last * 1000:.0f} ms")
for s in socks:
    s.close()
