-- The wrk script of every `make bench` measurement (see bench/wrk.py):
--   wrk -s bench/wrk_report.lua URL                     the URL's path on every request (a static request)
--   wrk -s bench/wrk_report.lua URL -- PATHS cycle SEED the paths of file PATHS (one a line) in turn
--   wrk -s bench/wrk_report.lua URL -- PATHS zipf SEED  paths drawn from Zipf(s = 1) over the file's lines,
--                                                       ranked by their order in the file (line 1 the most drawn)
-- SEED (an integer, 0 if absent) sets where the cycle starts and the random draws: runs with different seeds
-- ask for different sequences, so a warm-up run does not pre-load exactly what the measured run asks for.
-- done() prints one line, "BENCH_JSON {...}": requests, duration, errors and latency percentiles in microseconds.

local threads = 0

function setup(thread)
   thread:set("index", threads)
   threads = threads + 1
end

local function read_paths(file)
   local paths = {}
   for line in io.lines(file) do
      if line ~= "" then paths[#paths + 1] = line end
   end
   if #paths == 0 then error("no paths in " .. file) end
   return paths
end

function init(args)
   local file, mode, seed = args[1], args[2], tonumber(args[3]) or 0
   if file == nil then return end  -- no request() defined: wrk sends one pre-built request, the fastest way
   local paths = read_paths(file)
   local count = #paths
   local index = tonumber(wrk.thread:get("index")) or 0
   if mode == "cycle" then
      -- threads (and runs with another seed) start apart, so that they do not ask for the same paths
      local position = (index * 7919 + seed * 104729) % count
      request = function()
         position = position % count + 1
         return wrk.format(nil, paths[position])
      end
   elseif mode == "zipf" then
      local cdf, total = {}, 0
      for rank = 1, count do
         total = total + 1 / rank
         cdf[rank] = total
      end
      for rank = 1, count do cdf[rank] = cdf[rank] / total end
      math.randomseed(1 + index + 1000 * seed)
      request = function()
         local u, low, high = math.random(), 1, count
         while low < high do  -- the first rank whose cumulative probability reaches u
            local middle = math.floor((low + high) / 2)
            if cdf[middle] >= u then high = middle else low = middle + 1 end
         end
         return wrk.format(nil, paths[low])
      end
   else
      error("mode must be 'cycle' or 'zipf', got " .. tostring(mode))
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests": %d, "duration_us": %d, "errors": {"connect": %d, "read": %d, "write": %d, '
         .. '"status": %d, "timeout": %d}, "latency_us": {"p50": %d, "p90": %d, "p99": %d, "p999": %d, '
         .. '"max": %d, "mean": %.1f}}\n',
      summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
      latency.max, latency.mean))
end
