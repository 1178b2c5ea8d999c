#!/usr/bin/env python3
"""One client sending intakes one after another (keep-alive), for the latency a single
sender sees without wrk's coordinated-omission correction.

usage: python3 bench/sequential_intake.py [BASE_URL] [SECONDS]
       (defaults http://127.0.0.1:5099 and 10; run against a server started by hand)
"""
import http.client
import json
import sys
import time
from urllib.parse import urlparse

base = urlparse(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:5099")
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
conn = http.client.HTTPConnection(base.hostname, base.port or 80)
latencies = []
end = time.time() + seconds
while time.time() < end:
    i = len(latencies) + 1
    body = json.dumps({"from": f"uno{i}@cliente.pe", "subject": f"Prueba secuencial {i}", "body": "x"})
    start = time.perf_counter()
    conn.request("POST", "/intake/email", body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    latencies.append(time.perf_counter() - start)
    if response.status != 201:
        sys.exit(f"request {i} answered {response.status}")
latencies.sort()
n = len(latencies)
ms = lambda q: latencies[min(n - 1, int(n * q))] * 1e3
print(f"{n} intakes in {seconds:.0f} s: p50 {ms(0.5):.2f} ms, p99 {ms(0.99):.2f} ms, "
      f"p99.9 {ms(0.999):.2f} ms, worst {latencies[-1] * 1e3:.2f} ms")
