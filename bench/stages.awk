# Per-stage instructions/request of one hookroute callgrind run (issue 18).
#
#   awk -f bench/stages.awk inclusive.txt   (written by bench/callgrind.sh)
#
# Why from named functions: callgrind attributes cost to symbols, and with
# fat LTO most of hookroute's own code is inlined into a few async state
# machines, so a stage is the *inclusive* cost of the function that does it
# (the largest entry for that symbol: callgrind_annotate splits a symbol by
# the source file of its inlined lines), and the stages that have no symbol
# of their own are differences of ones that do. The mapping:
#
#   HTTP server     the connection task (listener::serve's per-connection
#                   future: hyper reading and parsing the request head and
#                   body, encoding and writing the answer) less the service
#                   call it makes
#   warp routing    the service call (listener's service_fn future) less
#                   warp's `then` future, which runs the filters' extraction
#                   (method, path, query, headers cloned, client address,
#                   body stream) and our handler; what is left is warp's
#                   service glue and its per-request route state
#   event           Event::decode less the event id: body read as text,
#                   the projected JSON document
#   ids             the event id (new_event_id); the request id has no
#                   symbol of its own (inlined into the handler) and is in
#                   "handler, rest"
#   decision        Snapshot::lookup + Snapshot::select + Snapshot::dispatch
#                   (dispatch includes Forward::render, shown on its own)
#   metrics         shown last, across stages (the match and the request
#                   are counted in "handler rest", the relayed forward in
#                   "pipeline rest"): the recorder's registry lookups
#                   (register_counter, register_histogram), dropping the
#                   label keys, the per-route counts' lookup (RouteStats)
#                   and the destination's text
#   access log      tracing's event dispatch to the JSON line formatter and
#                   the log writer (the line is written by a thread of its own)
#   client send     Upstream::exchange: hyper-util's pool checkout, handing
#                   the request to the connection task, reading the answer
#   client conn     the upstream connection's own task (encode the request,
#                   parse the answer): all tasks less the server connection
#   pipeline rest   pipeline::run less dispatch and exchange: dedup screen,
#                   the (empty) delivery plan, the relayed forward's metrics,
#                   building the relayed reply
#   handler rest    `then` less everything above that runs inside it: the
#                   filters' extraction, the request id, the access line's
#                   fields, counting the match and the request, the door,
#                   the answer turned into a response
#   runtime         everything outside tasks: tokio's scheduler and parking,
#                   timers, the log writer thread
{
  cost = $1
  $1 = ""
  sub(/^ +/, "")
  sub(/^[0-9.]+%\) /, "")
  name = $0
  sub(/ \([0-9,]+x\)$/, "", name)
  if (name ~ /^\/|^src\//) sub(/^[^:]*:/, "", name)
  if (cost > c[name]) c[name] = cost
}
function f(pattern, k, best) {
  best = 0
  for (k in c) if (index(k, pattern) == 1 && c[k] > best) best = c[k]
  return best
}
function show(label, value) {
  printf "%-16s %8.0f  %5.1f%%\n", label, value, 100 * value / total
}
END {
  total = c["PROGRAM TOTALS"]
  conn = f("hookroute::server::listener::serve::{{closure}}::{{closure}}")
  svc = f("hookroute::server::listener::serve::{{closure}}::{{closure}}::{{closure}}")
  then = f("<warp::filter::then::State<T,F> as core::future::future::Future>::poll")
  tasks = f("tokio::runtime::task::raw::poll'2")
  decode = f("hookroute::event::Event::decode")
  ids = f("hookroute::event::new_event_id")
  lookup = f("hookroute::router::Snapshot::lookup")
  select = f("hookroute::router::Snapshot::select")
  dispatch = f("hookroute::router::dispatch::<impl hookroute::router::Snapshot>::dispatch")
  render = f("hookroute::actions::forward::Forward::render")
  metrics = f("<metrics_exporter_prometheus::recorder::PrometheusRecorder as metrics::recorder::Recorder>::register_counter") \
    + f("<metrics_exporter_prometheus::recorder::PrometheusRecorder as metrics::recorder::Recorder>::register_histogram") \
    + f("core::ptr::drop_in_place<metrics::cow::Cow<[metrics::label::Label]>>") \
    + f("hookroute::observe::route_stats::RouteStats::counters") \
    + f("hookroute::upstream::destination_of") \
    + f("<metrics::handles::Counter as") + f("<metrics::handles::Histogram as")
  access = f("<tracing_subscriber::fmt::Subscriber<N,E,F,W> as tracing_core::subscriber::Subscriber>::event")
  exchange = f("hookroute::upstream::Upstream::exchange::{{closure}}")
  pipeline = f("hookroute::pipeline::run::{{closure}}")
  server = conn - svc
  warp = svc - then
  event = decode - ids
  decision = lookup + select + dispatch
  prest = pipeline > 0 ? pipeline - dispatch - exchange : 0
  client = tasks - conn
  hrest = then - decode - lookup - select - access - (pipeline > 0 ? pipeline : dispatch)
  runtime = total - tasks
  printf "stage breakdown, instructions/request (bench/stages.awk says how each is counted):\n"
  show("HTTP server", server)
  show("warp routing", warp)
  show("handler", then)
  show("  event", event)
  show("  ids (event)", ids)
  show("  decision", decision)
  show("    of which render", render)
  show("  access log", access)
  show("  client send", exchange)
  show("  pipeline rest", prest)
  show("  handler rest", hrest)
  show("client conn", client)
  show("runtime", runtime)
  show("total", total)
  show("metrics (across)", metrics)
}
