//! Agora: the backend of a resident help community for a city council.
//!
//! Layers (DESIGN.md): `http` (handlers) → `service` (rules) → `store`
//! (diesel on SQLite or PostgreSQL); full-text search lives in the
//! `search-index` crate.

// See Cargo.toml for why the server does not use the system allocator. It
// is set here, not in main.rs, so that tests and benchmarks run on it too
// and /metrics reads the allocator that is in use.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod domain;
pub mod error;
pub mod http;
pub mod indexer;
pub mod metrics;
pub mod service;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
