-- wrk script: POST /intake/email with a distinct subject per request (the brief's JSON).
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
  return wrk.format("POST", "/intake/email", {["Content-Type"] = "application/json"}, body)
end
