-- Searches with Zipf popularity, as agents repeat themselves: a fixed pool of JM_QUERIES queries
-- and JM_USERS users ("bench1".., as mixed.lua writes them), both drawn with exponent JM_ZIPF.
-- JM_ADD_SHARE (default 0) of the requests are adds of varied text to a Zipf-drawn user instead;
-- JM_DELAY_MS (default 0) is each connection's think time, for a paced load below saturation.
local words = {"meeting", "budget", "travel", "doctor", "garden", "recipe", "birthday", "project",
  "invoice", "flight", "hotel", "train", "coffee", "tea", "dog", "cat", "school", "piano", "tennis",
  "allergy", "car", "bicycle", "berlin", "paris", "monday", "friday", "passport", "dentist", "sister"}
local n_queries = tonumber(os.getenv("JM_QUERIES") or "1000")
local n_users = tonumber(os.getenv("JM_USERS") or "50")
local exponent = tonumber(os.getenv("JM_ZIPF") or "1.1")
local add_share = tonumber(os.getenv("JM_ADD_SHARE") or "0")
local delay_ms = tonumber(os.getenv("JM_DELAY_MS") or "0")
local counter = 0
dofile(os.getenv("JM_WRK_DIR") .. "/report.lua")

local function cumulative(n)
  local cum, total = {}, 0
  for rank = 1, n do
    total = total + 1 / rank ^ exponent
    cum[rank] = total
  end
  return cum, total
end

local function draw(cum, total)
  local x, lo, hi = math.random() * total, 1, #cum
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cum[mid] < x then lo = mid + 1 else hi = mid end
  end
  return lo
end

math.randomseed(7)
local queries = {}
for i = 1, n_queries do
  queries[i] = words[math.random(#words)] .. " " .. words[math.random(#words)] .. " " .. words[math.random(#words)]
end
local query_cum, query_total = cumulative(n_queries)
local user_cum, user_total = cumulative(n_users)
math.randomseed(os.time())

if delay_ms > 0 then
  delay = function() return delay_ms end
end

request = function()
  local headers = {["Content-Type"] = "application/json"}
  if add_share > 0 and math.random() < add_share then
    counter = counter + 1
    local text = {}
    for i = 1, 8 do text[i] = words[math.random(#words)] end
    return wrk.format("POST", "/v1/memories", headers, string.format('{"user_id": "bench%d", "content": "%s %d"}',
      draw(user_cum, user_total), table.concat(text, " "), counter))
  end
  local body = string.format('{"user_id": "bench%d", "query": "%s", "k": 10}',
    draw(user_cum, user_total), queries[draw(query_cum, query_total)])
  return wrk.format("POST", "/v1/search", headers, body)
end
