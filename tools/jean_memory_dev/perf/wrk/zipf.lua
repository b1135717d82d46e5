-- Searches with Zipf popularity, as agents repeat themselves: a fixed pool of JM_QUERIES queries
-- and JM_USERS users ("bench1".., as mixed.lua writes them), both drawn with exponent JM_ZIPF.
local words = {"meeting", "budget", "travel", "doctor", "garden", "recipe", "birthday", "project",
  "invoice", "flight", "hotel", "train", "coffee", "tea", "dog", "cat", "school", "piano", "tennis",
  "allergy", "car", "bicycle", "berlin", "paris", "monday", "friday", "passport", "dentist", "sister"}
local n_queries = tonumber(os.getenv("JM_QUERIES") or "1000")
local n_users = tonumber(os.getenv("JM_USERS") or "50")
local exponent = tonumber(os.getenv("JM_ZIPF") or "1.1")
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

request = function()
  local body = string.format('{"user_id": "bench%d", "query": "%s", "k": 10}',
    draw(user_cum, user_total), queries[draw(query_cum, query_total)])
  return wrk.format("POST", "/v1/search", {["Content-Type"] = "application/json"}, body)
end
