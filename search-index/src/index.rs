//! Opening the index (or deciding it must be rebuilt), the one writer, and
//! commits that record the applied outbox position in their payload, so a
//! crash never loses or double-applies work.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tantivy::directory::MmapDirectory;
use tantivy::schema::{Facet, Schema};
use tantivy::{Index, IndexReader, IndexSettings, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::schema::{self, Fields, SCHEMA_VERSION};
use crate::{QuestionDoc, Result, SearchError};

/// Decompressed doc-store blocks each segment keeps. tantivy's default of
/// 100 per segment fills slowly under searches and holds tens of MiB once
/// there are a dozen segments; a hit needs its one block, and repeated
/// searches are answered by the server's read cache anyway.
const DOC_STORE_CACHE_BLOCKS: usize = 8;

/// What an index's last commit recorded.
#[derive(Debug, Serialize, Deserialize)]
struct CommitPayload {
    schema_version: u32,
    /// The last outbox position whose changes this commit contains.
    position: i64,
}

/// Whether an opened index can be used as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenOutcome {
    /// Up to date as of this outbox position.
    Ready { position: i64 },
    /// Missing, unreadable or of an older schema: an empty index was put in
    /// its place and must be rebuilt from the database.
    Rebuild { reason: String },
}

/// An index on disk with its reader.
pub struct SearchIndex {
    pub(crate) index: Index,
    pub(crate) reader: IndexReader,
    pub(crate) fields: Fields,
    dir: PathBuf,
    /// Kept to prune its map of opened files (see `reload`).
    files: MmapDirectory,
}

impl SearchIndex {
    /// Opens the index in `dir`. When it is missing, corrupt or of another
    /// schema version, a fresh empty index replaces it and the outcome says
    /// why it needs a rebuild.
    pub fn open(dir: &Path) -> Result<(SearchIndex, OpenOutcome)> {
        match Self::open_existing(dir) {
            Ok(Some((index, position))) => Ok((index, OpenOutcome::Ready { position })),
            Ok(None) => Ok((Self::create_fresh(dir)?, OpenOutcome::Rebuild { reason: "no index yet".to_owned() })),
            Err(reason) => Ok((Self::create_fresh(dir)?, OpenOutcome::Rebuild { reason })),
        }
    }

    /// `Ok(None)`: nothing there; `Err`: there but unusable.
    fn open_existing(dir: &Path) -> std::result::Result<Option<(SearchIndex, i64)>, String> {
        if !dir.join("meta.json").exists() {
            return Ok(None);
        }
        let files = MmapDirectory::open(dir).map_err(|e| format!("unreadable index directory: {e}"))?;
        let index = Index::open(files.clone()).map_err(|e| format!("unreadable index: {e}"))?;
        let metas = index.load_metas().map_err(|e| format!("unreadable index metadata: {e}"))?;
        let payload: CommitPayload = match metas.payload.as_deref().map(serde_json::from_str) {
            Some(Ok(payload)) => payload,
            Some(Err(e)) => return Err(format!("unreadable commit payload: {e}")),
            None => return Err("the index was never committed".to_owned()),
        };
        if payload.schema_version != SCHEMA_VERSION {
            return Err(format!("schema version {} (this build needs {SCHEMA_VERSION})", payload.schema_version));
        }
        let fields = schema::fields_of(&index.schema()).map_err(|e| format!("unexpected schema: {e}"))?;
        let searcher =
            Self::with_index(index, files, fields, dir).map_err(|e| format!("cannot read the index: {e}"))?;
        Ok(Some((searcher, payload.position)))
    }

    fn create_fresh(dir: &Path) -> Result<SearchIndex> {
        if dir.exists() {
            std::fs::remove_dir_all(dir)
                .map_err(|e| SearchError::Other(format!("cannot clear {}: {e}", dir.display())))?;
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| SearchError::Other(format!("cannot create {}: {e}", dir.display())))?;
        let (schema, fields): (Schema, Fields) = schema::build();
        let files = MmapDirectory::open(dir).map_err(tantivy::TantivyError::from)?;
        let index = Index::create(files.clone(), schema, IndexSettings::default())?;
        Self::with_index(index, files, fields, dir)
    }

    fn with_index(index: Index, files: MmapDirectory, fields: Fields, dir: &Path) -> Result<SearchIndex> {
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .doc_store_cache_num_blocks(DOC_STORE_CACHE_BLOCKS)
            .try_into()?;
        Ok(SearchIndex { index, reader, fields, dir: dir.to_owned(), files })
    }

    /// Takes the index's single writer (tantivy's directory lock makes a
    /// second one, in this or another process, fail), with an indexing
    /// thread per core: for rebuilds.
    pub fn writer(&self, heap_bytes: usize) -> Result<IndexWriterHandle> {
        self.take_writer(self.for_writing()?.writer(heap_bytes))
    }

    /// The writer for a server's trickle of small batches: one indexing
    /// thread, so one arena's worth of memory rather than one per core.
    pub fn single_threaded_writer(&self, heap_bytes: usize) -> Result<IndexWriterHandle> {
        self.take_writer(self.for_writing()?.writer_with_num_threads(1, heap_bytes))
    }

    /// A handle on the same files whose stemmed fields' analyzer memoises
    /// stems (`stemming`): it makes indexing faster, but searches keep
    /// tantivy's own, since a query's few hundred words would only fill a
    /// memo that is dropped with it (a quarter slower, in the search bench).
    fn for_writing(&self) -> Result<Index> {
        let index = Index::open(self.files.clone())?;
        index.tokenizers().register(schema::STEMMED, crate::stemming::english());
        Ok(index)
    }

    fn take_writer(&self, taken: tantivy::Result<IndexWriter<TantivyDocument>>) -> Result<IndexWriterHandle> {
        let writer = taken.map_err(|e| match e {
            tantivy::TantivyError::LockFailure(..) => {
                SearchError::Other(format!("the index at {} is in use by another process", self.dir.display()))
            }
            other => SearchError::Index(other),
        })?;
        Ok(IndexWriterHandle { writer, fields: self.fields })
    }

    /// Makes the last commit visible to searches.
    ///
    /// It also prunes tantivy's map of the files it has mapped: that map
    /// keeps an entry for every segment file ever opened and drops the dead
    /// ones only when asked for its statistics, so under a steady trickle
    /// of commits (a segment each, merged away soon after) it grew by a few
    /// hundred bytes per file for as long as the server ran.
    pub fn reload(&self) -> Result<()> {
        self.reader.reload()?;
        self.files.get_cache_info();
        Ok(())
    }

    /// Questions in the index (as of the last reload).
    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// The outbox position of the last commit, if any.
    pub fn committed_position(&self) -> Option<i64> {
        let metas = self.index.load_metas().ok()?;
        let payload: CommitPayload = serde_json::from_str(metas.payload.as_deref()?).ok()?;
        Some(payload.position)
    }

    /// Bytes the index takes on disk.
    pub fn size_on_disk(&self) -> u64 {
        std::fs::read_dir(&self.dir)
            .map(|entries| entries.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum())
            .unwrap_or(0)
    }
}

/// The writer: replaces documents and commits with the outbox position.
pub struct IndexWriterHandle {
    writer: IndexWriter,
    fields: Fields,
}

impl IndexWriterHandle {
    /// Replaces (or adds) the question's document.
    pub fn upsert(&mut self, doc: &QuestionDoc) -> Result<()> {
        self.delete(doc.id);
        self.add(doc)
    }

    /// Adds a question known not to be in the index (a rebuild after
    /// `delete_all`).
    pub fn add(&mut self, doc: &QuestionDoc) -> Result<()> {
        self.writer.add_document(to_document(&self.fields, doc))?;
        Ok(())
    }

    /// Removes the question (hidden, deleted, merged away).
    pub fn delete(&mut self, id: i64) {
        self.writer.delete_term(Term::from_field_i64(self.fields.id, id));
    }

    pub fn delete_all(&mut self) -> Result<()> {
        self.writer.delete_all_documents()?;
        Ok(())
    }

    /// Commits everything so far as applying the outbox up to `position`.
    pub fn commit(&mut self, position: i64) -> Result<()> {
        let payload = serde_json::to_string(&CommitPayload { schema_version: SCHEMA_VERSION, position })
            .map_err(|e| SearchError::Other(e.to_string()))?;
        let mut prepared = self.writer.prepare_commit()?;
        prepared.set_payload(&payload);
        prepared.commit()?;
        Ok(())
    }

    /// Drops uncommitted changes.
    pub fn rollback(&mut self) -> Result<()> {
        self.writer.rollback()?;
        Ok(())
    }
}

fn to_document(f: &Fields, q: &QuestionDoc) -> TantivyDocument {
    let mut doc = TantivyDocument::default();
    doc.add_i64(f.id, q.id);
    doc.add_text(f.title, &q.title);
    doc.add_text(f.body, &q.body);
    for answer in &q.answers {
        doc.add_text(f.answers, answer);
    }
    // The question's own words only: answers hold most of the text, and
    // indexing them twice made a rebuild a third slower for typo
    // corrections that questions' words already give.
    doc.add_text(f.plain, &q.title);
    doc.add_text(f.plain, &q.body);
    for tag in &q.tags {
        doc.add_text(f.tags, tag);
        doc.add_text(f.tags_text, tag.replace('-', " "));
        doc.add_facet(f.facets, Facet::from_path(["tag", tag.as_str()]));
    }
    doc.add_text(f.category, &q.category_slug);
    doc.add_text(f.category_name, &q.category_name);
    doc.add_text(f.category_text, &q.category_name);
    doc.add_facet(f.facets, Facet::from_path(["category", q.category_slug.as_str()]));
    if let Some(area) = &q.area {
        doc.add_text(f.area, area);
        // Counted like the others (one facet collector); an empty name is
        // no area.
        if !area.is_empty() {
            doc.add_facet(f.facets, Facet::from_path(["area", area.as_str()]));
        }
    }
    doc.add_text(f.status, &q.status);
    doc.add_facet(f.facets, Facet::from_path(["status", q.status.as_str()]));
    doc.add_i64(f.score, q.score);
    doc.add_u64(f.answer_count, q.answer_count);
    doc.add_u64(f.accepted, u64::from(q.accepted));
    doc.add_u64(f.verified, u64::from(q.verified));
    doc.add_i64(f.created_at, q.created_at);
    doc.add_i64(f.activity_at, q.activity_at);
    doc.add_u64(f.closed, u64::from(q.closed));
    if let Some(target) = q.duplicate_of {
        doc.add_i64(f.duplicate_of, target);
    }
    doc
}
