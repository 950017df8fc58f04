//! Full-text search for Agora (tantivy lives here and nowhere else).
