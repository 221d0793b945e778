-- POST a realistic report with a unique Idempotency-Key per request.
package.path = package.path .. ";" .. debug.getinfo(1, "S").source:match("@(.*/)") .. "?.lua"
require "common"

local path = os.getenv("WRK_PATH") or "/api/v1/reports"
local counter = 0
local prefix = ""

-- Keys must differ between runs against the same database (a warm-up, then the measured run),
-- or the second run's reports are replays of the first: the driver passes a run id.
local run = os.getenv("WRK_RUN") or tostring(os.time())
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", run .. "-" .. threads)
end

function init(args)
  prefix = tid or run
end

local body = '{"title":"Fake classified ads with the editor\'s phone number",' ..
  '"description":"Ads selling equipment and animals list the editor\'s mobile; calls all night.",' ..
  '"attack_types":["phone_flooding","doxxing"],"platform":"classifieds","region":"almaty_city",' ..
  '"ongoing":true,"targets":[{"kind":"person","name":"Editor-in-chief"},' ..
  '{"kind":"phone_number","name":"editor mobile","identifier":"+7 700 000 0101"},' ..
  '{"kind":"outlet","name":"Orda.kz"}],' ..
  '"reporter":{"name":"Newsroom security lead","email":"security@orda.example"}}'

function request()
  counter = counter + 1
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = prefix .. "-" .. counter,
  }, body)
end

done = report_json
