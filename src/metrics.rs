//! `/metrics`: what an operator watches, in the Prometheus text format.
//!
//! Request counts and latencies are recorded by the request middleware,
//! labelled by route *template* (`/api/v1/questions/{id}`), never by the
//! raw path, so a scanner probing random URLs cannot grow the label set.
//! Pool use, indexer lag and the allocator's figures are read at scrape
//! time.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    /// `stored` or `duplicate`.
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheLabels {
    /// `hit` or `miss`.
    pub outcome: &'static str,
}

type LatencyFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// 1 ms … ~16 s, doubling.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

/// What the scrape reads from the database side; `None` when the database
/// did not answer (then `agora_database_up` is 0 and lag is not reported).
pub struct IndexLag {
    pub entries: i64,
    pub seconds: f64,
}

/// The mail outbox as the scrape found it (all nodes' mail), and what this
/// node's sender did since it started.
#[derive(Default)]
pub struct MailState {
    /// Waiting or being sent; `None` when the database did not answer.
    pub queue: Option<(i64, f64)>,
    pub sent: u64,
    pub failed: u64,
    pub dropped: u64,
}

/// The webhook queue as the scrape found it (all nodes), and what this
/// node's sender did since it started.
#[derive(Default)]
pub struct WebhookState {
    /// Waiting or being attempted, and the oldest's age in seconds; `None`
    /// when the database did not answer.
    pub queue: Option<(i64, f64)>,
    pub succeeded: u64,
    pub failed: u64,
    pub abandoned: u64,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    /// `succeeded`, `failed` (to be retried) or `abandoned`.
    pub outcome: &'static str,
}

/// A snapshot of the pool and indexer taken by the handler.
pub struct ScrapeState {
    pub pool_max: u32,
    pub pool_open: u32,
    pub pool_idle: u32,
    pub queries: u64,
    pub index_ready: bool,
    pub index_lag: Option<IndexLag>,
    /// Bytes and entries the read cache holds.
    pub read_cache_bytes: u64,
    pub read_cache_entries: usize,
    pub mail: MailState,
    pub webhooks: WebhookState,
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: LatencyFamily,
    events: Family<EventLabels, Counter>,
    read_cache: Family<CacheLabels, Counter>,
    database_up: Gauge,
    pool_max: Gauge,
    pool_open: Gauge,
    pool_in_use: Gauge,
    queries: Counter,
    index_ready: Gauge,
    index_lag_entries: Gauge,
    index_lag_seconds: Gauge<f64, AtomicU64>,
    heap_allocated: Gauge,
    heap_active: Gauge,
    heap_metadata: Gauge,
    heap_resident: Gauge,
    read_cache_bytes: Gauge,
    read_cache_entries: Gauge,
    mail_queued: Gauge,
    mail_oldest_queued_seconds: Gauge<f64, AtomicU64>,
    mail_sent: Counter,
    mail_failed: Counter,
    mail_dropped: Counter,
    webhook_deliveries: Family<DeliveryLabels, Counter>,
    webhook_queue_length: Gauge,
    webhook_oldest_pending_seconds: Gauge<f64, AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("agora");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests by route template, method and status", requests.clone());
        let latency = LatencyFamily::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time to the response head, by route template",
            latency.clone(),
        );
        let events = Family::<EventLabels, Counter>::default();
        registry.register("events_ingested", "Deflection events received through POST /events", events.clone());
        let read_cache = Family::<CacheLabels, Counter>::default();
        registry.register(
            "read_cache_lookups",
            "Cacheable reads (and contact forms' suggestions) served from the read cache (hit) or made afresh (miss)",
            read_cache.clone(),
        );
        let database_up = Gauge::default();
        registry.register("database_up", "1 when the database answered the scrape's probe", database_up.clone());
        let pool_max = Gauge::default();
        registry.register("db_pool_max_connections", "Configured size of the request pool", pool_max.clone());
        let pool_open = Gauge::default();
        registry.register("db_pool_open_connections", "Connections the request pool holds", pool_open.clone());
        let pool_in_use = Gauge::default();
        registry.register("db_pool_in_use_connections", "Connections checked out by requests", pool_in_use.clone());
        let queries = Counter::default();
        registry.register("db_queries", "SQL statements run by the request pool", queries.clone());
        let index_ready = Gauge::default();
        registry.register("search_index_ready", "1 when the search index is built and following", index_ready.clone());
        let index_lag_entries = Gauge::default();
        registry.register(
            "search_index_lag_entries",
            "Outbox entries not yet applied to this node's index",
            index_lag_entries.clone(),
        );
        let index_lag_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "search_index_lag_seconds",
            "Age of the oldest outbox entry not yet applied",
            index_lag_seconds.clone(),
        );
        let mail_queued = Gauge::default();
        registry.register("mail_queued", "Mails waiting in the outbox or being sent (all nodes)", mail_queued.clone());
        let mail_oldest_queued_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "mail_oldest_queued_seconds",
            "Age of the oldest mail still waiting (0 when none)",
            mail_oldest_queued_seconds.clone(),
        );
        let mail_sent = Counter::default();
        registry.register("mail_sent", "Mails this node handed to SMTP (or wrote as .eml files)", mail_sent.clone());
        let mail_failed = Counter::default();
        registry.register(
            "mail_failed",
            "Mails refused for good or given up after retries by this node",
            mail_failed.clone(),
        );
        let mail_dropped = Counter::default();
        registry.register(
            "mail_dropped",
            "Mails this node did not send: their post was hidden or deleted, or the address unverified",
            mail_dropped.clone(),
        );
        let webhook_deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Webhook attempts and decisions of this node, by outcome (failed: to be retried)",
            webhook_deliveries.clone(),
        );
        let webhook_queue_length = Gauge::default();
        registry.register(
            "webhook_queue_length",
            "Webhook deliveries waiting or being attempted (all nodes)",
            webhook_queue_length.clone(),
        );
        let webhook_oldest_pending_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "webhook_oldest_pending_seconds",
            "Age of the oldest webhook delivery still waiting (0 when none)",
            webhook_oldest_pending_seconds.clone(),
        );
        let heap_allocated = Gauge::default();
        registry.register(
            "heap_allocated_bytes",
            "Bytes the process holds in allocations (the allocator's count: a leak grows this)",
            heap_allocated.clone(),
        );
        let heap_active = Gauge::default();
        registry.register(
            "heap_active_bytes",
            "Bytes in the allocator's pages that hold allocations (allocated plus the free room inside those pages)",
            heap_active.clone(),
        );
        let heap_metadata = Gauge::default();
        registry.register("heap_metadata_bytes", "Bytes of the allocator's own bookkeeping", heap_metadata.clone());
        let heap_resident = Gauge::default();
        registry.register(
            "heap_resident_bytes",
            "Bytes of memory the allocator keeps resident (allocations, its metadata, freed pages not yet returned)",
            heap_resident.clone(),
        );
        let read_cache_bytes = Gauge::default();
        registry.register(
            "read_cache_bytes",
            "Bytes of keys and responses the read cache holds (bounded; entries past their time to live are swept)",
            read_cache_bytes.clone(),
        );
        let read_cache_entries = Gauge::default();
        registry.register("read_cache_entries", "Responses the read cache holds", read_cache_entries.clone());
        Metrics {
            registry,
            requests,
            latency,
            events,
            read_cache,
            database_up,
            pool_max,
            pool_open,
            pool_in_use,
            queries,
            index_ready,
            index_lag_entries,
            index_lag_seconds,
            heap_allocated,
            heap_active,
            heap_metadata,
            heap_resident,
            read_cache_bytes,
            read_cache_entries,
            mail_queued,
            mail_oldest_queued_seconds,
            mail_sent,
            mail_failed,
            mail_dropped,
            webhook_deliveries,
            webhook_queue_length,
            webhook_oldest_pending_seconds,
        }
    }

    pub fn record_read_cache(&self, hit: bool) {
        self.read_cache.get_or_create(&CacheLabels { outcome: if hit { "hit" } else { "miss" } }).inc();
    }

    pub fn record_request(&self, method: &str, route: String, status: u16, seconds: f64) {
        // Clients may send any token as a method; keep the label set bounded.
        let method = match method {
            "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => method,
            _ => "OTHER",
        }
        .to_owned();
        self.latency.get_or_create(&RouteLabels { method: method.clone(), route: route.clone() }).observe(seconds);
        self.requests.get_or_create(&RequestLabels { method, route, status }).inc();
    }

    pub fn record_events(&self, stored: usize, duplicates: usize) {
        self.events.get_or_create(&EventLabels { outcome: "stored" }).inc_by(stored as u64);
        self.events.get_or_create(&EventLabels { outcome: "duplicate" }).inc_by(duplicates as u64);
    }

    /// The text exposition, after taking in the scrape-time readings.
    pub fn render(&self, scrape: &ScrapeState) -> String {
        self.pool_max.set(i64::from(scrape.pool_max));
        self.pool_open.set(i64::from(scrape.pool_open));
        self.pool_in_use.set(i64::from(scrape.pool_open.saturating_sub(scrape.pool_idle)));
        let counted = self.queries.get();
        self.queries.inc_by(scrape.queries.saturating_sub(counted));
        self.index_ready.set(i64::from(scrape.index_ready));
        self.database_up.set(i64::from(scrape.index_lag.is_some()));
        if let Some(lag) = &scrape.index_lag {
            self.index_lag_entries.set(lag.entries);
            self.index_lag_seconds.set(lag.seconds);
        }
        self.read_cache_bytes.set(i64::try_from(scrape.read_cache_bytes).unwrap_or(i64::MAX));
        self.read_cache_entries.set(i64::try_from(scrape.read_cache_entries).unwrap_or(i64::MAX));
        self.record_mail(&scrape.mail);
        self.record_webhooks(&scrape.webhooks);
        if let Some(heap) = heap_stats() {
            self.heap_allocated.set(heap.allocated);
            self.heap_active.set(heap.active);
            self.heap_metadata.set(heap.metadata);
            self.heap_resident.set(heap.resident);
        }
        let mut out = String::with_capacity(16 * 1024);
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Metrics {
    fn record_webhooks(&self, webhooks: &WebhookState) {
        if let Some((waiting, oldest)) = webhooks.queue {
            self.webhook_queue_length.set(waiting);
            self.webhook_oldest_pending_seconds.set(oldest);
        }
        for (outcome, total) in
            [("succeeded", webhooks.succeeded), ("failed", webhooks.failed), ("abandoned", webhooks.abandoned)]
        {
            let counter = self.webhook_deliveries.get_or_create(&DeliveryLabels { outcome });
            counter.inc_by(total.saturating_sub(counter.get()));
        }
    }

    fn record_mail(&self, mail: &MailState) {
        if let Some((queued, oldest)) = mail.queue {
            self.mail_queued.set(queued);
            self.mail_oldest_queued_seconds.set(oldest);
        }
        // The sender counts; the counters catch up at each scrape.
        for (counter, total) in
            [(&self.mail_sent, mail.sent), (&self.mail_failed, mail.failed), (&self.mail_dropped, mail.dropped)]
        {
            counter.inc_by(total.saturating_sub(counter.get()));
        }
    }
}

struct HeapStats {
    allocated: i64,
    active: i64,
    metadata: i64,
    resident: i64,
}

/// jemalloc's statistics, refreshed (they are cached until the epoch is
/// advanced).
#[cfg(not(target_env = "msvc"))]
fn heap_stats() -> Option<HeapStats> {
    use tikv_jemalloc_ctl::{epoch, stats};
    epoch::advance().ok()?;
    let as_i64 = |bytes: usize| i64::try_from(bytes).unwrap_or(i64::MAX);
    Some(HeapStats {
        allocated: as_i64(stats::allocated::read().ok()?),
        active: as_i64(stats::active::read().ok()?),
        metadata: as_i64(stats::metadata::read().ok()?),
        resident: as_i64(stats::resident::read().ok()?),
    })
}

#[cfg(target_env = "msvc")]
fn heap_stats() -> Option<HeapStats> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrape() -> ScrapeState {
        ScrapeState {
            pool_max: 8,
            pool_open: 3,
            pool_idle: 1,
            queries: 42,
            index_ready: true,
            index_lag: Some(IndexLag { entries: 5, seconds: 1.5 }),
            read_cache_bytes: 2048,
            read_cache_entries: 3,
            mail: MailState { queue: Some((4, 12.5)), sent: 9, failed: 1, dropped: 2 },
            webhooks: WebhookState { queue: Some((2, 3.5)), succeeded: 7, failed: 1, abandoned: 0 },
        }
    }

    #[test]
    fn renders_requests_by_route_template_and_scrape_readings() {
        let metrics = Metrics::new();
        metrics.record_request("GET", "/api/v1/questions/{id}".into(), 200, 0.003);
        metrics.record_request("GET", "/api/v1/questions/{id}".into(), 200, 0.004);
        metrics.record_events(7, 2);
        metrics.record_request("BREW", "unmatched".into(), 404, 0.001);
        let text = metrics.render(&scrape());
        assert!(
            text.contains(r#"agora_http_requests_total{method="GET",route="/api/v1/questions/{id}",status="200"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"agora_http_request_duration_seconds_count{method="GET",route="/api/v1/questions/{id}"} 2"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"agora_events_ingested_total{outcome="stored"} 7"#), "{text}");
        assert!(
            text.contains(r#"agora_http_requests_total{method="OTHER",route="unmatched",status="404"} 1"#),
            "{text}"
        );
        assert!(text.contains("agora_db_pool_in_use_connections 2"), "{text}");
        assert!(text.contains("agora_search_index_lag_entries 5"), "{text}");
        assert!(text.contains("agora_db_queries_total 42"), "{text}");
        assert!(text.contains("agora_read_cache_bytes 2048"), "{text}");
        assert!(text.contains("agora_read_cache_entries 3"), "{text}");
        assert!(text.contains("agora_mail_queued 4"), "{text}");
        assert!(text.contains("agora_mail_oldest_queued_seconds 12.5"), "{text}");
        assert!(text.contains("agora_mail_sent_total 9"), "{text}");
        // A second scrape does not count the same queries twice.
        let text = metrics.render(&scrape());
        assert!(text.contains("agora_db_queries_total 42"), "{text}");
        assert!(text.contains("agora_mail_sent_total 9"), "{text}");
        // The process runs on jemalloc (lib.rs), whose figures are read.
        let gauge = |name: &str| -> i64 {
            let line = text.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{name}"));
            line[name.len() + 1..].parse().unwrap()
        };
        assert!(gauge("agora_heap_allocated_bytes") > 0, "{text}");
        assert!(gauge("agora_heap_active_bytes") >= gauge("agora_heap_allocated_bytes"), "{text}");
        assert!(gauge("agora_heap_metadata_bytes") > 0, "{text}");
        assert!(gauge("agora_heap_resident_bytes") >= gauge("agora_heap_active_bytes"), "{text}");
    }

    #[test]
    fn a_database_that_did_not_answer_shows_as_down() {
        let metrics = Metrics::new();
        let text = metrics.render(&ScrapeState { index_lag: None, ..scrape() });
        assert!(text.contains("agora_database_up 0"), "{text}");
    }
}
