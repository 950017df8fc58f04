//! `agora import stackexchange` on a small real extract of the Quantum
//! Computing Stack Exchange dump committed beside the tests
//! (`tests/fixtures/stackexchange-quantumcomputing-2018-extract`, written by
//! `tests/fixtures/extract_stackexchange.py`; its README.md gives the
//! source, licence and counts): the exact counts its files hold,
//! idempotence, and the result as residents see it through the API. The
//! whole dump in `../shared/data` is imported by a separate test, skipped
//! when that folder is not beside the repository.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use agora::service::import_export::{Quiet, stackexchange};
use serde_json::json;

use super::helpers::{TestApp, spawn_app};

/// The committed extract, and its key in `import_map` (`stackexchange:`
/// and the folder's name).
fn extract() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stackexchange-quantumcomputing-2018-extract")
}
const EXTRACT: &str = "stackexchange:stackexchange-quantumcomputing-2018-extract";

/// The whole dump, when the shared data folder is beside the repository.
fn dump() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/stackexchange-quantumcomputing-2018")
}

fn import(app: &TestApp, dir: &Path) -> agora::service::import_export::Summary {
    let now = app.clock.now();
    app.with_conn(|conn| stackexchange::import(conn, dir, Some("quantum"), now, &mut Quiet).expect("import"))
}

/// The Agora question a dump question became.
fn question_of(app: &TestApp, source: &str, dump_id: &str) -> i64 {
    app.with_conn(|conn| agora::store::imports::target(conn, source, "question", dump_id).unwrap())
        .unwrap_or_else(|| panic!("question {dump_id} of {source} was not imported"))
}

/// The statuses of the questions listed in the category, page by page.
fn statuses(app: &TestApp, limit: u32) -> BTreeMap<String, i32> {
    let mut cursor = String::new();
    let mut statuses = BTreeMap::new();
    loop {
        let page = app.get(&format!("/api/v1/questions?category=quantum&limit={limit}{cursor}")).send().json();
        for q in page["items"].as_array().unwrap() {
            *statuses.entry(q["status"].as_str().unwrap().to_owned()).or_insert(0) += 1;
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    statuses
}

fn category_question_count(app: &TestApp) -> Option<serde_json::Value> {
    app.get("/api/v1/categories").send().json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["slug"] == "quantum")
        .map(|c| c["question_count"].clone())
}

#[test]
fn the_quantum_computing_extract_imports_exactly_and_only_once() {
    let app = spawn_app();
    let summary = import(&app, &extract());
    // The extract's files (its README.md): 73 users; 65 posts: 34
    // questions, their 27 answers (13 accepted) and 4 tag-wiki posts; 114
    // comments; 46 tags; 490 votes, of which 421 up and 18 down, one up and
    // one down on post 2, deleted before the dump was made: 420 and 17
    // remain. Post 1 has the most up and down votes, 52: placeholder voters
    // 1 to 52, and the "Deleted user" who owns question 1808.
    let expected = [
        ("users", 73),
        ("questions", 34),
        ("answers", 27),
        ("accepted answers", 13),
        ("comments", 114),
        ("up votes", 420),
        ("down votes", 17),
        ("tags", 45),
        ("duplicates closed", 2),
        ("placeholder accounts", 53),
    ];
    for (kind, n) in expected {
        assert_eq!(summary.count(kind), n, "{kind}: {summary}");
    }
    assert_eq!(summary.imported.len(), expected.len(), "{summary}");
    let skipped = [
        // Tags.xml has 46 tags; `q#` is not a valid Agora tag name, and
        // question 4007 is tagged with it.
        ("tags", "tag 'q#' may contain only letters, digits and hyphens", 1),
        ("question tags", "not a valid Agora tag name", 1),
        // The excerpt and wiki of `simulation` and `quantum-turing-machine`.
        ("posts", "tag wiki (Agora tags have no wiki)", 4),
        // Of the 4 duplicate links, 1280 → 1262 and 1428 → 1269 close their
        // question; 1428 → 1255 finds 1428 closed; 3805 → 2261 names a
        // question deleted before the dump was made.
        ("duplicates", "a question of the link is not in the dump", 1),
        ("duplicates", "the question is already closed as a duplicate", 1),
        ("post links", "a related link (Agora links duplicates only)", 3),
        ("votes", "its post was not imported", 2),
        ("votes", "acceptance (imported from the question's accepted answer)", 13),
        ("votes", "favourite (Agora has follows)", 23),
        ("votes", "approved edit suggestion", 9),
        ("votes", "moderator review", 3),
        ("votes", "bounty", 2),
        ("votes", "deletion or undeletion", 1),
        ("badges", "Agora awards its own badges", 72),
    ];
    for (kind, reason, n) in skipped {
        assert_eq!(summary.skipped_for(kind, reason), n, "{kind}: {reason}: {summary}");
    }
    assert_eq!(summary.skipped.len(), skipped.len(), "{summary}");

    // A second run adds nothing.
    let again = import(&app, &extract());
    assert!(again.imported.is_empty(), "{again}");
    let already: BTreeMap<&str, u64> = again.already_imported.iter().map(|(k, n)| (k.as_str(), *n)).collect();
    assert_eq!(
        already,
        BTreeMap::from([
            ("users", 73),
            ("tags", 45),
            ("questions", 34),
            ("answers", 27),
            ("comments", 114),
            ("votes", 437),
            ("duplicates", 2),
        ]),
        "{again}"
    );

    // Reputation is the ledger's, from the imported votes and acceptances.
    let report = app.with_conn(|conn| agora::service::reputation::check(conn, false).unwrap());
    assert!(report.is_clean(), "{report:?}");

    // Through the API: 34 questions in the category, 13 of them solved
    // (closed duplicates are listed too; merged ones would not be), read
    // page by page.
    assert_eq!(category_question_count(&app), Some(json!(34)));
    let statuses = statuses(&app, 10);
    assert_eq!(statuses.values().sum::<i32>(), 34, "{statuses:?}");
    assert_eq!(statuses.get("solved"), Some(&13), "{statuses:?}");
    assert_eq!(statuses.get("answered"), Some(&5), "{statuses:?}");
    assert_eq!(statuses.get("unanswered"), Some(&16), "{statuses:?}");

    // The first question of the dump: Markdown from its HTML, its accepted
    // answer first of its three, its author an imported user who cannot
    // sign in.
    let first = question_of(&app, EXTRACT, "1");
    let page = app.question(first);
    assert!(page["body"].as_str().unwrap().contains("[Turing machine](https://en.wikipedia.org/wiki/Turing_machine)"));
    assert!(!page["body"].as_str().unwrap().contains("<p>"));
    assert_eq!(page["answers"].as_array().unwrap().len(), 3);
    assert_eq!(page["answers"][0]["accepted"], true);
    assert_eq!(page["status"], "solved");
    assert_eq!(page["view_count"], 1163);
    let author = page["author"]["username"].as_str().unwrap().to_owned();
    app.login(&author, "any password at all").assert_problem(401, "unauthorized");

    // Code in the HTML becomes Markdown code: a <pre><code> block fenced,
    // inline <code> in backticks.
    let code = app.question(question_of(&app, EXTRACT, "3786"));
    let body = code["body"].as_str().unwrap();
    assert!(body.contains("```\nfrom datasets import"), "{body}");
    assert!(body.contains("`import` statement"), "{body}");

    // A question whose author's account was deleted (no OwnerUserId) is the
    // placeholder's.
    let departed = app.question(question_of(&app, EXTRACT, "1808"));
    assert_eq!(departed["author"]["display_name"], "Deleted user");

    // A duplicate points at its target; a question linked as a duplicate of
    // two keeps the first link; a target stays open.
    let dup = question_of(&app, EXTRACT, "1280");
    let target = question_of(&app, EXTRACT, "1262");
    assert_eq!(app.question(dup)["closed"]["duplicate_of"], target);
    let twice = question_of(&app, EXTRACT, "1428");
    assert_eq!(app.question(twice)["closed"]["duplicate_of"], question_of(&app, EXTRACT, "1269"));
    assert!(app.question(target)["closed"].is_null());
    assert!(app.question(question_of(&app, EXTRACT, "2261"))["closed"].is_null());

    // And search finds imported questions once the indexer has caught up.
    let started = Instant::now();
    loop {
        let hits = app.get("/api/v1/search?q=quantum%20turing%20machine&category=quantum").send();
        if hits.status == 200 && hits.json()["items"].as_array().unwrap().iter().any(|h| h["question_id"] == first) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "imported questions were not indexed");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The whole dump, at its scale: only when `../shared/data` is beside the
/// repository (the extract above runs everywhere).
#[test]
fn the_quantum_computing_dump_imports_exactly_and_only_once() {
    if !dump().join("Posts.xml").is_file() {
        eprintln!(
            "NOTICE: ../shared/data/stackexchange-quantumcomputing-2018 not found; \
             the_quantum_computing_dump_imports_exactly_and_only_once skipped"
        );
        return;
    }
    let app = spawn_app();
    let summary = import(&app, &dump());
    // The counts of the dump's files (its README): 3,461 users, 612
    // questions, 1,060 answers, 389 accepted, 3,413 comments, 14 duplicate
    // links. Votes: 10,103 up and 668 down, of which 154 up and 242 down
    // are on posts deleted before the dump was made (not in Posts.xml),
    // which are not imported: 9,949 and 426 remain.
    let expected = [
        ("users", 3461),
        ("questions", 612),
        ("answers", 1060),
        ("accepted answers", 389),
        ("comments", 3413),
        ("up votes", 9949),
        ("down votes", 426),
        ("tags", 153),
        ("duplicates closed", 10),
    ];
    for (kind, n) in expected {
        assert_eq!(summary.count(kind), n, "{kind}: {summary}");
    }
    // Tags.xml has 154 tags; `q#` is not a valid Agora tag name.
    assert_eq!(summary.skipped_for("tags", "tag 'q#' may contain only letters, digits and hyphens"), 1);
    // Of the 14 duplicate links, 3 involve questions missing from the
    // dump and one question is linked to two targets: 10 closed.
    assert_eq!(summary.skipped_for("duplicates", "a question of the link is not in the dump"), 3);
    assert_eq!(summary.skipped_for("duplicates", "the question is already closed as a duplicate"), 1);
    assert_eq!(summary.skipped_for("posts", "tag wiki (Agora tags have no wiki)"), 314);
    assert_eq!(summary.skipped_for("post links", "a related link (Agora links duplicates only)"), 313);
    assert_eq!(summary.skipped_for("votes", "favourite (Agora has follows)"), 710);
    assert_eq!(summary.skipped_for("votes", "its post was not imported"), 396);

    // A second run adds nothing.
    let again = import(&app, &dump());
    assert!(again.imported.is_empty(), "{again}");
    assert_eq!(again.already_imported.get("questions"), Some(&612));
    assert_eq!(again.already_imported.get("votes"), Some(&10_375));

    // Reputation is the ledger's, from the imported votes and acceptances.
    let report = app.with_conn(|conn| agora::service::reputation::check(conn, false).unwrap());
    assert!(report.is_clean(), "{report:?}");

    // Through the API: 612 questions in the category, 389 of them solved.
    assert_eq!(category_question_count(&app), Some(json!(612)));
    let statuses = statuses(&app, 100);
    assert_eq!(statuses.values().sum::<i32>(), 612, "{statuses:?}");
    assert_eq!(statuses.get("solved"), Some(&389), "{statuses:?}");

    // The duplicate the extract checks too, among the whole dump's.
    let source = "stackexchange:stackexchange-quantumcomputing-2018";
    let dup = question_of(&app, source, "1280");
    assert_eq!(app.question(dup)["closed"]["duplicate_of"], question_of(&app, source, "1262"));
}

#[test]
fn a_folder_that_is_not_a_dump_is_refused_cleanly() {
    let app = spawn_app();
    let now = app.clock.now();
    let missing = std::env::temp_dir().join("agora-no-such-dump");
    let error = app.with_conn(|conn| stackexchange::import(conn, &missing, None, now, &mut Quiet).unwrap_err());
    assert!(error.to_string().contains("Posts.xml"), "{error}");
    let bad = tempdir();
    std::fs::write(bad.join("Posts.xml"), "<posts><row Id=\"1\" PostTypeId=\"1\" Title=\"unterminated").unwrap();
    let error = app.with_conn(|conn| stackexchange::import(conn, &bad, None, now, &mut Quiet).unwrap_err());
    assert!(error.to_string().contains("Posts.xml"), "{error}");
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("agora-bad-dump-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
