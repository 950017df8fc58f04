//! Communities in and out: the JSONL dump that `agora export` writes and
//! `agora import jsonl` restores (`dump`), and a Stack Exchange data dump
//! brought in (`stackexchange`). What every importer shares: the summary of
//! what was imported and skipped (and why), and progress reporting.

pub mod dump;
pub mod stackexchange;

use std::collections::BTreeMap;
use std::fmt;

/// What an import did, by kind of record.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Records created, by kind ("users", "questions"…).
    pub imported: BTreeMap<String, u64>,
    /// Records a previous run already imported, by kind.
    pub already_imported: BTreeMap<String, u64>,
    /// Records left out, by kind and reason.
    pub skipped: BTreeMap<(String, String), u64>,
}

impl Summary {
    pub fn imported(&mut self, kind: &str) {
        *self.imported.entry(kind.to_owned()).or_default() += 1;
    }

    pub fn already(&mut self, kind: &str) {
        *self.already_imported.entry(kind.to_owned()).or_default() += 1;
    }

    pub fn skipped(&mut self, kind: &str, reason: impl Into<String>) {
        *self.skipped.entry((kind.to_owned(), reason.into())).or_default() += 1;
    }

    pub fn count(&self, kind: &str) -> u64 {
        self.imported.get(kind).copied().unwrap_or(0)
    }

    pub fn skipped_for(&self, kind: &str, reason: &str) -> u64 {
        self.skipped.get(&(kind.to_owned(), reason.to_owned())).copied().unwrap_or(0)
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Imported:")?;
        for (kind, n) in &self.imported {
            writeln!(f, "  {n:>8}  {kind}")?;
        }
        if !self.already_imported.is_empty() {
            writeln!(f, "Already imported by an earlier run (left as they are):")?;
            for (kind, n) in &self.already_imported {
                writeln!(f, "  {n:>8}  {kind}")?;
            }
        }
        if !self.skipped.is_empty() {
            writeln!(f, "Skipped:")?;
            for ((kind, reason), n) in &self.skipped {
                writeln!(f, "  {n:>8}  {kind}: {reason}")?;
            }
        }
        Ok(())
    }
}

/// Told how far an import has got through a file (bytes read of total).
pub trait Progress {
    fn start(&mut self, file: &str, total_bytes: u64);
    fn advance(&mut self, bytes_read: u64);
    fn finish(&mut self);
}

/// No progress display (tests).
pub struct Quiet;

impl Progress for Quiet {
    fn start(&mut self, _: &str, _: u64) {}
    fn advance(&mut self, _: u64) {}
    fn finish(&mut self) {}
}
