-- wrk script: POST /intake/email with a distinct subject per request (the brief's JSON).
-- Headers given to wrk with -H (e.g. "Authorization: Bearer <intake token>" when intake
-- comes through a load balancer) are sent with every request.
local counter = 0
local thread_id = 0
setup = function(thread)
  thread_id = thread_id + 1
  thread:set("tid", thread_id)
end
request = function()
  counter = counter + 1
  local body = string.format(
    '{"from":"carga%d@cliente.pe","subject":"Prueba de carga %d-%d","body":"Mensaje de prueba de carga"}',
    counter, tid or 0, counter)
  local headers = {}
  for k, v in pairs(wrk.headers) do headers[k] = v end
  headers["Content-Type"] = "application/json"
  return wrk.format("POST", "/intake/email", headers, body)
end

-- After the run, two lines bench/run.sh reads: the 99.9th percentile in microseconds (wrk's
-- --latency stops at 99 %), and how many answers came back and how many were not 2xx
-- (a 201 is the only answer intake gives these bodies; run.sh also checks that the tickets grew).
done = function(summary, latency, requests)
  io.write(string.format("p99.9_us %.0f\n", latency:percentile(99.9)))
  io.write(string.format("answers %d non2xx %d timeouts %d\n",
    summary.requests, summary.errors.status, summary.errors.timeout))
end
