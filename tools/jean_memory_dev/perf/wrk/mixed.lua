-- A mixed agent workload for wrk: adds and searches (ratio set by JM_ADD_SHARE, default 0.5),
-- over many users with varied text, so caches and the index do real work.
local words = {"meeting", "budget", "travel", "doctor", "garden", "recipe", "birthday", "project",
  "invoice", "flight", "hotel", "train", "coffee", "tea", "dog", "cat", "school", "piano", "tennis",
  "allergy", "car", "bicycle", "berlin", "paris", "monday", "friday", "passport", "dentist", "sister"}
local add_share = tonumber(os.getenv("JM_ADD_SHARE") or "0.5")
local users = tonumber(os.getenv("JM_USERS") or "50")
local counter = 0
local delay_ms = tonumber(os.getenv("JM_DELAY_MS") or "0")
dofile(os.getenv("JM_WRK_DIR") .. "/report.lua")

-- Think time between a connection's requests: a paced load below saturation.
if delay_ms > 0 then
  delay = function() return delay_ms end
end

local function sentence(n)
  local out = {}
  for i = 1, n do out[i] = words[math.random(#words)] end
  return table.concat(out, " ")
end

request = function()
  counter = counter + 1
  local user = "bench" .. math.random(users)
  local headers = {["Content-Type"] = "application/json"}
  if math.random() < add_share then
    return wrk.format("POST", "/v1/memories", headers,
      string.format('{"user_id": "%s", "content": "%s %d"}', user, sentence(8), counter))
  end
  return wrk.format("POST", "/v1/search", headers,
    string.format('{"user_id": "%s", "query": "%s", "k": 10}', user, sentence(3)))
end
