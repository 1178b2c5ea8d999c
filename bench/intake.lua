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
