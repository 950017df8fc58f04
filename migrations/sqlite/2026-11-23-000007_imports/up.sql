-- What an importer created for each record of a source (a Stack Exchange
-- dump, say): a second run of the same import skips what is here.
CREATE TABLE import_map (
    source TEXT NOT NULL,
    kind TEXT NOT NULL,
    source_id TEXT NOT NULL,
    target_id INTEGER NOT NULL,
    PRIMARY KEY (source, kind, source_id)
);
