//! Rate limits: a request over the limit is a 429 with `Retry-After`; on
//! PostgreSQL the buckets are shared, so two nodes allow the limit once,
//! not twice. On SQLite (one node by design) each node keeps its own.

use agora::config::Limit;

use super::helpers::{TestApp, spawn_app_with, spawn_node};

fn tight(settings: &mut agora::config::Settings) {
    settings.rate_limits.search = Limit { per_minute: 1, burst: 3 };
}

fn search(node: &TestApp) -> (u16, Option<String>, Option<String>) {
    let response = node.get("/api/v1/search?q=bins").send();
    let header = |name: &str| response.header(name).map(str::to_owned);
    (response.status, header("ratelimit-remaining"), header("retry-after"))
}

#[test]
fn two_nodes_share_one_limit_on_postgresql_and_keep_their_own_on_sqlite() {
    let node_a = spawn_app_with(tight);
    let node_b = spawn_node(&node_a.db, node_a.db.scratch_dir().join("node-b"), tight);
    let shared = node_a.db.url().starts_with("postgres");

    let mut statuses = Vec::new();
    for _ in 0..4 {
        for node in [&node_a, &node_b] {
            statuses.push(search(node));
        }
    }
    let allowed = statuses.iter().filter(|(status, _, _)| *status == 200).count();
    if shared {
        assert_eq!(allowed, 3, "two PostgreSQL nodes allowed more than the burst: {statuses:?}");
        // Remaining counts down across the nodes: 2 (A), 1 (B), 0 (A).
        let remaining: Vec<_> = statuses[..3].iter().map(|(_, r, _)| r.clone().unwrap()).collect();
        assert_eq!(remaining, vec!["2", "1", "0"]);
    } else {
        assert_eq!(allowed, 6, "each SQLite node keeps its own buckets: {statuses:?}");
    }
    let refused = statuses.iter().find(|(status, _, _)| *status == 429).expect("a refusal");
    let retry_after: u64 = refused.2.as_deref().expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    // Other clients and other classes are not affected.
    node_a.get("/api/v1/questions").send().assert_status(200);
}
