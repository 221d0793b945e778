-- GET the incident list with a rotating set of filter combinations a responder would use.
package.path = package.path .. ";" .. debug.getinfo(1, "S").source:match("@(.*/)") .. "?.lua"
require "common"

local token = os.getenv("QORGAU_TOKEN")
local queries = {
  "?status=new&severity=high",
  "?attack_type=ddos&limit=50",
  "?q=blocked",
  "?q=editor%20phone&severity=critical",
  "?category=infrastructure&region=almaty_city",
  "?target=%2B77000000101",
  "?target=orda.kz&status=in_progress",
  "?reported_from=2025-01-01T00:00:00Z&reported_to=2025-04-01T00:00:00Z",
  "?platform=telegram&attack_type=threats&offset=200",
  "?q=%D0%B1%D0%BB%D0%BE%D0%BA%D0%B8%D1%80%D0%BE%D0%B2%D0%BA%D0%B0",
  "?severity=low&attack_type=website_blocking&region=nationwide",
  "?limit=20&offset=5000",
}
local i = 0

function request()
  i = i + 1
  local q = queries[(i % #queries) + 1]
  return wrk.format("GET", "/api/v1/incidents" .. q, {
    ["Authorization"] = "Bearer " .. token,
  })
end

done = report_json
