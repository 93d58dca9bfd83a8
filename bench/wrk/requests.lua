-- wrk script of bench/load.py: cycles through prepared requests (method, path, Bearer token, JSON
-- body) read from the data file named by $GD_WRK_DATA, each thread starting at a different one.
-- An item with `cookie` instead of `token` is a signed-in page request (bench/pages.py).
--
--   GD_WRK_DATA=bench/out/wrk-create.lua wrk -t2 -c16 -d20s --latency -s bench/wrk/requests.lua http://127.0.0.1:8765
--
-- The data file is Lua that returns a list of {method=..., path=..., token=... or cookie=..., body=...}.

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "report.lua")

local prepared = {}
local position = 0

function init(args)
  local items = dofile(os.getenv("GD_WRK_DATA"))
  for _, item in ipairs(items) do
    local headers
    if item.cookie then
      headers = {["Cookie"] = item.cookie, ["Accept"] = "text/html"}
    else
      headers = {["Authorization"] = "Bearer " .. item.token, ["Accept"] = "application/json"}
    end
    if item.body then
      headers["Content-Type"] = "application/json"
    end
    table.insert(prepared, wrk.format(item.method, item.path, headers, item.body))
  end
  position = (thread_no or 0) * 7
end

function request()
  position = position + 1
  return prepared[(position % #prepared) + 1]
end
