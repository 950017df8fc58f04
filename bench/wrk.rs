//! What the load and soak benchmarks' wrk scripts share.

/// The lua that every endpoint's script ends with: per-thread random seeds
/// and unique ids, and a result line the bench parses.
pub(crate) const LUA_COMMON: &str = r#"
local next_thread = 1
setup = function(thread)
  thread:set("tid", next_thread)
  next_thread = next_thread + 1
end
init = function(args)
  math.randomseed(tid * 7919)
  seq = 0
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.connect + e.read + e.write + e.status + e.timeout))
end
"#;

pub(crate) fn lua_strings(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    format!("{{{}}}", quoted.join(",\n"))
}

pub(crate) fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
