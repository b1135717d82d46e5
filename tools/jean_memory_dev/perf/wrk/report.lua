-- The JSON report every wrk script here ends with; the plain GET load (the URL given to wrk) uses it
-- alone, the other scripts load it with dofile(). With JM_STATUSES=1 it also counts each status
-- code and the 429s that carried a Retry-After header (a response callback costs wrk some speed).
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

if os.getenv("JM_STATUSES") == "1" then
  statuses = {}
  retry_after = 0
  response = function(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
    if status == 429 or status == 503 then
      if headers["retry-after"] or headers["Retry-After"] then retry_after = retry_after + 1 end
    end
  end
end

function done(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  local counts, with_retry = {}, 0
  for _, t in ipairs(threads) do
    for code, n in pairs(t:get("statuses") or {}) do
      counts[#counts + 1] = string.format('"%d": %d', code, n)
    end
    with_retry = with_retry + (t:get("retry_after") or 0)
  end
  io.write(string.format("JSON {\"requests\": %d, \"duration_us\": %d, \"errors\": %d, \"p50_us\": %d, \"p99_us\": %d, \"mean_us\": %.1f, \"statuses\": {%s}, \"retry_after\": %d}\n",
    summary.requests, summary.duration, errors, latency:percentile(50), latency:percentile(99), latency.mean,
    table.concat(counts, ", "), with_retry))
end
