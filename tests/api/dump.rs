//! `agora export jsonl` / `agora import jsonl`: a whole community (the demo,
//! plus moderation, audit and deflection records) exported, restored into
//! an empty database and exported again gives the same files; bad dumps
//! and non-empty databases are refused without leaving half a restore.

use std::path::{Path, PathBuf};

use agora::domain::Role;
use agora::service::import_export::dump;
use serde_json::json;

use super::helpers::{TestApp, TestDatabase, spawn_app};
use super::process::{Node, agora};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("agora-dump-{name}-{}", uuid::Uuid::new_v4()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn export(app: &TestApp, dir: &Path) -> dump::Manifest {
    app.with_conn(|conn| dump::export(conn, dir, &mut |_, _| {}).expect("export"))
}

/// Every file of a dump, by name.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    files.sort();
    files
}

/// The demo, and a moderator's and an admin's day on top of it.
fn community(app: &TestApp) {
    app.with_conn(|conn| agora::demo::seed(conn, &app.clock).unwrap().expect("seeded"));
    let moderator = app.user_with_roles("dump_moderator", &[Role::Moderator]);
    let admin = app.user_with_roles("dump_admin", &[Role::Admin]);
    app.post("/api/v1/flags", &json!({"target_type": "question", "target_id": 3, "reason": "spam"}))
        .bearer(&moderator.access_token)
        .send()
        .assert_status(201);
    app.post("/api/v1/mod/posts/question/3/hide", &json!({})).bearer(&moderator.access_token).send().assert_status(204);
    app.post("/api/v1/mod/questions/5/close", &json!({"reason": "duplicate", "duplicate_of": 9}))
        .bearer(&moderator.access_token)
        .send()
        .assert_status(200);
    // A pending close vote (the threshold lowered: the ledger must still
    // explain every reputation, so none is set by hand).
    app.change_settings(&admin, |s| s["privileges"]["close_vote"] = json!(1));
    let voter = app.register("dump_voter");
    app.call("PUT", "/api/v1/questions/7/close-votes")
        .json(&json!({"reason": "unclear"}))
        .bearer(&voter.access_token)
        .send()
        .assert_status(200);
    app.change_settings(&admin, |s| s["deflection"]["holdout_percent"] = json!(10));
    app.get("/api/v1/questions/similar?text=missed%20bin&intent_id=dump-intent").send().assert_status(200);
    app.get("/api/v1/search?q=zzzz%20nothing%20matches").send();
}

#[test]
fn a_community_round_trips_through_a_dump() {
    let source = spawn_app();
    community(&source);
    let first = scratch("first");
    let manifest = export(&source, &first);
    let rows = |table: &str| manifest.tables.iter().find(|t| t.table == table).unwrap().rows;
    assert!(rows("questions") >= 300 && rows("answers") > 300 && rows("votes") > 100, "{manifest:?}");
    let counts = [rows("reputation_events"), rows("deflection_events"), rows("audit_log")];
    assert!(counts[0] > 100 && counts[1] > 1000 && counts[2] >= 3, "{counts:?}");
    assert_eq!(rows("flags"), 1);
    assert_eq!(rows("close_votes"), 1);
    // The demo's held-out and treated contact-form visits, and this test's intent.
    assert!(rows("experiment_arms") > 100, "{manifest:?}");
    // No secret leaves: no password hash, no refresh token.
    let users = std::fs::read_to_string(first.join("users.jsonl")).unwrap();
    assert!(!users.contains("password") && !users.contains("argon2"));
    assert!(!first.join("refresh_tokens.jsonl").exists());

    let restored = spawn_app();
    restored.with_conn(|conn| dump::import(conn, &first, &mut |_, _| {}).expect("import"));
    let second = scratch("second");
    export(&restored, &second);
    assert_eq!(files(&first), files(&second), "export → import → export changed the files");

    // What is derived was rebuilt: the same deflection figures.
    let analyst = |app: &TestApp| {
        let name = format!("dump_analyst_{}", uuid::Uuid::new_v4().simple());
        app.user_with_roles(&name[..24], &[Role::Analyst])
    };
    let summary = |app: &TestApp| {
        let who = analyst(app);
        app.get("/api/v1/deflection/summary").bearer(&who.access_token).send().assert_status(200).json()
    };
    assert_eq!(summary(&source)["confirmed"], summary(&restored)["confirmed"]);
    assert_eq!(summary(&source)["potential"], summary(&restored)["potential"]);
    restored.with_conn(|conn| assert_eq!(agora::service::deflection::check_rollups(conn).unwrap(), vec![]));
    let report = restored.with_conn(|conn| agora::service::reputation::check(conn, false).unwrap());
    assert!(report.is_clean(), "{report:?}");

    // The restored community carries on: new rows get new ids.
    let resident = restored.register("after_restore");
    let asked = restored.ask(&resident, "waste-recycling", "Asked after the restore happened", &[]);
    assert!(asked["id"].as_i64().unwrap() > rows("questions") as i64);
    assert_eq!(restored.question(5)["closed"]["duplicate_of"], 9);
    assert_eq!(restored.get("/api/v1/questions/7/close-votes").send().json()["count"], 1);
}

/// A dump written before close votes existed restores (with none); a dump
/// missing any other table is refused.
#[test]
fn a_dump_from_before_close_votes_restores() {
    let source = spawn_app();
    source.with_conn(|conn| agora::demo::seed(conn, &source.clock).unwrap());
    let dir = scratch("before-close-votes");
    export(&source, &dir);
    let without = |dir: &Path, table: &str| {
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
        let mut older = manifest.clone();
        older["tables"] = json!(
            manifest["tables"].as_array().unwrap().iter().filter(|t| t["table"] != table).cloned().collect::<Vec<_>>()
        );
        std::fs::write(dir.join("manifest.json"), serde_json::to_string_pretty(&older).unwrap()).unwrap();
        let _ = std::fs::remove_file(dir.join(format!("{table}.jsonl")));
    };
    without(&dir, "close_votes");
    let restored = spawn_app();
    restored.with_conn(|conn| dump::import(conn, &dir, &mut |_, _| {}).expect("a dump without close_votes restores"));
    assert_eq!(restored.get("/api/v1/questions/7/close-votes").send().json()["count"], 0);
    without(&dir, "flags");
    let refused = spawn_app();
    let error = refused.with_conn(|conn| dump::import(conn, &dir, &mut |_, _| {}).unwrap_err());
    assert!(error.to_string().contains("expected"), "{error}");
}

#[test]
fn bad_dumps_and_full_databases_are_refused_whole() {
    let app = spawn_app();
    app.with_conn(|conn| agora::demo::seed(conn, &app.clock).unwrap());
    let good = scratch("good");
    export(&app, &good);

    // Not into a database that already has a community.
    let refused = app.with_conn(|conn| dump::import(conn, &good, &mut |_, _| {}).unwrap_err());
    assert!(refused.to_string().contains("empty database"), "{refused}");
    // Not into a folder that already holds files.
    let again = app.with_conn(|conn| dump::export(conn, &good, &mut |_, _| {}).unwrap_err());
    assert!(again.to_string().contains("not empty"), "{again}");

    let empty = spawn_app();
    let broken = |name: &str, change: &dyn Fn(&Path)| {
        let dir = scratch(name);
        std::fs::create_dir_all(&dir).unwrap();
        for (file, bytes) in files(&good) {
            std::fs::write(dir.join(file), bytes).unwrap();
        }
        change(&dir);
        let error = empty.with_conn(|conn| dump::import(conn, &dir, &mut |_, _| {}).unwrap_err());
        // Nothing of a refused dump stays.
        let left = empty.with_conn(|conn| agora::store::dump::community_rows(conn).unwrap());
        assert_eq!(left, 0, "{name}: a failed import left rows behind");
        error.to_string()
    };
    let version = broken("version", &|dir| {
        let manifest = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
        std::fs::write(dir.join("manifest.json"), manifest.replace("\"version\": 1", "\"version\": 99")).unwrap();
    });
    assert!(version.contains("version 99"), "{version}");
    let short = broken("short", &|dir| {
        let answers = std::fs::read_to_string(dir.join("answers.jsonl")).unwrap();
        let kept: Vec<&str> = answers.lines().skip(1).collect();
        std::fs::write(dir.join("answers.jsonl"), kept.join("\n")).unwrap();
    });
    assert!(short.contains("answers.jsonl holds"), "{short}");
    let garbled = broken("garbled", &|dir| {
        std::fs::write(dir.join("comments.jsonl"), "{\"id\": \"not a number\"}\n").unwrap();
    });
    assert!(garbled.contains("comments.jsonl line 1"), "{garbled}");
    let escape = broken("escape", &|dir| {
        let manifest = std::fs::read_to_string(dir.join("manifest.json")).unwrap();
        std::fs::write(dir.join("manifest.json"), manifest.replace("\"users.jsonl\"", "\"../users.jsonl\"")).unwrap();
    });
    assert!(escape.contains("leaves the dump folder"), "{escape}");
}

#[test]
fn operators_back_up_and_restore_with_the_binary() {
    let source = spawn_app();
    source.with_conn(|conn| agora::demo::seed(conn, &source.clock).unwrap().expect("seeded"));
    let backup = scratch("cli");
    let out = agora(&source.db, &source.db.scratch_dir(), &["export", "jsonl", backup.to_str().unwrap()], "");
    assert!(out.contains("Exported 24 tables"), "{out}");

    let (target, _) = TestDatabase::create();
    let data_dir = target.scratch_dir().join("node");
    let out = agora(&target, &data_dir, &["import", "jsonl", backup.to_str().unwrap()], "");
    assert!(out.contains("Restored 24 tables") && out.contains("Indexed"), "{out}");
    // Restored accounts have no password until an operator sets one.
    let out =
        agora(&target, &data_dir, &["user", "set-password", "--username", "analyst-omar"], "a brand new passphrase\n");
    assert!(out.contains("Set the password of analyst-omar"), "{out}");

    let node = Node::start(&target, &data_dir, &[]);
    let token = node.login("analyst-omar", "a brand new passphrase");
    assert!(!token.is_empty());
    // The restored node's index was rebuilt: demo questions are found.
    assert!(!node.search_ids("bin").is_empty());
}
