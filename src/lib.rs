//! Agora: the backend of a resident help community for a city council.
//!
//! Layers (docs/architecture.md): `http` (handlers) → `service` (rules) →
//! `store` (diesel on SQLite or PostgreSQL); full-text search lives in the
//! `search-index` crate.

// See Cargo.toml for why the server does not use the system allocator. It
// is set here, not in main.rs, so that tests and benchmarks run on it too
// and /metrics reads the allocator that is in use.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

// jemalloc's defaults keep freed pages for ~10 s and purge them only when
// later allocations happen to trigger it, so a busy node held 20-25 MiB of
// freed pages and its RSS wandered by +-4 MiB with no live growth: more
// than a leak test can tell from a leak (README, the soak benchmark).
// Its own background threads return freed pages within about a second.
// jemalloc is the process's malloc (Cargo.toml), so this is the C symbol
// `malloc_conf` it reads once, at start, as a `const char *` (the
// MALLOC_CONF environment variable overrides it): `Option<&u8>` is one
// nullable pointer, and it points at a static NUL-terminated string, so the
// export is sound. Where tikv-jemalloc-sys keeps its `_rjem_` prefix (macOS,
// musl) jemalloc reads `_rjem_malloc_conf` instead, so there this is unused
// and jemalloc's defaults apply: correct, only slower to return pages.
#[cfg(not(target_env = "msvc"))]
#[unsafe(export_name = "malloc_conf")]
pub static JEMALLOC_CONF: Option<&u8> = Some(&b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0"[0]);

pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod domain;
pub mod error;
pub mod http;
pub mod metrics;
pub mod service;
pub mod startup;
pub mod store;
pub mod telemetry;
