//! One integration-test binary: every test talks HTTP to a real server on a
//! real database. Run against PostgreSQL by setting
//! `AGORA_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres`.

mod helpers;
mod spec;

mod accounts;
mod answers;
mod api_keys;
mod auth_tokens;
mod authz;
mod contract;
mod crash_safety;
mod deflection;
mod demo;
mod dump;
mod experts;
mod import;
mod mail;
mod moderation;
mod open311;
mod operations;
mod personal_data;
mod process;
mod questions;
mod rate_limits;
mod read_cache;
mod reputation;
mod reputation_random;
mod retention;
mod schema_parity;
mod search;
mod similar;
mod views;
mod webhooks;
mod widget;
