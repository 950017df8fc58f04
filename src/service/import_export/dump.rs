//! `agora export jsonl DIR` / `agora import jsonl DIR`: the council's
//! backup and records-retention format (`docs/jsonl-format.md`).
//!
//! A dump is a folder: `manifest.json` (format, version, and each table's
//! file and row count) and one `<table>.jsonl` per table, one JSON object
//! per row, in key order. Exporting the same database twice gives the same
//! bytes, and so does exporting what an import of a dump restored: the
//! format round-trips.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::store::dump::{self as tables, DumpError};
use crate::store::{DbConn, write_transaction};

pub const FORMAT: &str = "agora-jsonl";
/// Bumped when a file or field changes meaning; an import refuses a
/// version it does not know.
pub const VERSION: u32 = 1;

/// Lines inserted per batch when importing.
const BATCH: usize = 2_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub tables: Vec<TableFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableFile {
    pub table: String,
    pub file: String,
    pub rows: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Store(#[from] DumpError),
    #[error("database: {0}")]
    Database(#[from] diesel::result::Error),
    #[error("manifest.json: {0}")]
    Manifest(String),
    #[error("{0}")]
    Refused(String),
}

type TransferResult<T> = Result<T, TransferError>;

fn io(path: &Path) -> impl Fn(std::io::Error) -> TransferError + '_ {
    move |source| TransferError::Io { path: path.to_owned(), source }
}

/// Told each table as it is done (table, rows).
pub type Progress<'a> = &'a mut dyn FnMut(&str, u64);

/// Writes the whole community into `dir` (created; must be empty), from
/// one consistent snapshot.
pub fn export(conn: &mut DbConn, dir: &Path, progress: Progress<'_>) -> TransferResult<Manifest> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    if std::fs::read_dir(dir).map_err(io(dir))?.next().is_some() {
        return Err(TransferError::Refused(format!("{} is not empty", dir.display())));
    }
    let files = tables::in_snapshot(conn, |conn| -> TransferResult<Vec<TableFile>> {
        let mut files = Vec::new();
        for table in tables::TABLES {
            let file = format!("{table}.jsonl");
            let path = dir.join(&file);
            let mut out = BufWriter::new(File::create(&path).map_err(io(&path))?);
            let rows = tables::export(conn, table, &mut |line| {
                out.write_all(line.as_bytes())?;
                out.write_all(b"\n")
            })?;
            out.flush().map_err(io(&path))?;
            progress(table, rows);
            files.push(TableFile { table: (*table).to_owned(), file, rows });
        }
        Ok(files)
    })?;
    let manifest = Manifest { format: FORMAT.to_owned(), version: VERSION, tables: files };
    let path = dir.join("manifest.json");
    let json = serde_json::to_string_pretty(&manifest).map_err(|e| TransferError::Manifest(e.to_string()))?;
    std::fs::write(&path, json + "\n").map_err(io(&path))?;
    Ok(manifest)
}

/// Tables added to format version 1 after its first dumps were written: a
/// dump without them restores them empty (nothing else may be missing).
const ADDED_IN_VERSION_1: [&str; 1] = ["close_votes"];

fn read_manifest(dir: &Path) -> TransferResult<Manifest> {
    let path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| TransferError::Manifest(e.to_string()))?;
    if manifest.format != FORMAT {
        return Err(TransferError::Manifest(format!("format is {:?}, not {FORMAT:?}", manifest.format)));
    }
    if manifest.version != VERSION {
        return Err(TransferError::Manifest(format!(
            "version {} is not one this agora reads (it reads {VERSION})",
            manifest.version
        )));
    }
    let listed: Vec<&str> = manifest.tables.iter().map(|t| t.table.as_str()).collect();
    let expected: Vec<&str> =
        tables::TABLES.iter().copied().filter(|t| listed.contains(t) || !ADDED_IN_VERSION_1.contains(t)).collect();
    if listed != expected {
        return Err(TransferError::Manifest(format!("lists tables {listed:?}, expected {:?}", tables::TABLES)));
    }
    if manifest.tables.iter().any(|t| t.file.contains(['/', '\\']) || t.file.starts_with('.')) {
        return Err(TransferError::Manifest("a file name leaves the dump folder".to_owned()));
    }
    Ok(manifest)
}

/// Restores a dump into an empty database, all or nothing, then rebuilds
/// what is derived from it (the deflection state; the search index is
/// rebuilt by the caller, who knows the node's index folder).
pub fn import(conn: &mut DbConn, dir: &Path, progress: Progress<'_>) -> TransferResult<Manifest> {
    let manifest = read_manifest(dir)?;
    if tables::community_rows(conn)? > 0 {
        return Err(TransferError::Refused(
            "the database already holds a community: restore into an empty database".to_owned(),
        ));
    }
    write_transaction(conn, |conn| -> TransferResult<()> {
        tables::defer_references(conn)?;
        tables::clear_settings(conn)?;
        for entry in &manifest.tables {
            let rows = load_file(conn, dir, entry)?;
            progress(&entry.table, rows);
        }
        tables::reset_sequences(conn)?;
        Ok(())
    })?;
    crate::service::deflection::rebuild(conn)?;
    tables::analyze(conn)?;
    Ok(manifest)
}

/// Streams one table's file into the database, checking its row count.
fn load_file(conn: &mut DbConn, dir: &Path, entry: &TableFile) -> TransferResult<u64> {
    let path = dir.join(&entry.file);
    let reader = BufReader::new(File::open(&path).map_err(io(&path))?);
    let mut batch = Vec::with_capacity(BATCH);
    let mut rows = 0u64;
    for line in reader.lines() {
        let line = line.map_err(io(&path))?;
        if line.trim().is_empty() {
            continue;
        }
        batch.push(line);
        rows += 1;
        if batch.len() == BATCH {
            tables::import(conn, &entry.table, &batch, rows - batch.len() as u64 + 1)?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        tables::import(conn, &entry.table, &batch, rows - batch.len() as u64 + 1)?;
    }
    if rows != entry.rows {
        return Err(TransferError::Manifest(format!(
            "{} holds {rows} rows, the manifest says {}",
            entry.file, entry.rows
        )));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_column_but_the_secrets_is_dumped() {
        for (table, in_schema, dumped) in tables::coverage() {
            // users.password_hash stays out of every dump.
            let secrets = usize::from(table == "users");
            assert_eq!(dumped + secrets, in_schema, "{table}: a column is missing from the dump");
        }
    }
}
