//! `agora serve --demo`: a believable, deterministic community.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::helpers::{TestApp, postgres_admin_url, spawn_app};

fn seed(app: &TestApp) -> Option<Vec<agora::demo::DemoLogin>> {
    app.with_conn(|conn| agora::demo::seed(conn, &app.clock).expect("seed"))
}

/// How long seeding may take. The promise is under 5 s for `serve --demo`
/// in a release build on SQLite (about 1.7 s measured). An unoptimised test
/// build is about 4x slower, more on a busy machine; on PostgreSQL the seed
/// takes about 11 s even in a release build, so there the bound only
/// catches a gross regression.
fn seed_limit_secs() -> u64 {
    match (postgres_admin_url().is_some(), cfg!(debug_assertions)) {
        (false, false) => 5,
        (false, true) => 40,
        (true, false) => 30,
        (true, true) => 120,
    }
}

/// Every question of the community, through the API.
fn all_questions(app: &TestApp) -> Vec<Value> {
    let mut items = Vec::new();
    let mut url = "/api/v1/questions?limit=100&sort=votes".to_owned();
    loop {
        let page = app.get(&url).send().assert_status(200).json();
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => url = format!("/api/v1/questions?limit=100&sort=votes&cursor={cursor}"),
            None => return items,
        }
    }
}

#[test]
fn the_demo_is_a_whole_community_and_always_the_same() {
    let app = spawn_app();
    let started = Instant::now();
    let logins = seed(&app).expect("an empty database is seeded");
    let took = started.elapsed();
    let limit = Duration::from_secs(seed_limit_secs());
    assert!(took < limit, "seeding the demo took {took:?} (limit {limit:?})");
    assert!(seed(&app).is_none(), "a second seed leaves the data alone");
    demo_mail_is_written_as_eml_files(&app);
    for role in ["admin", "moderator", "staff", "analyst"] {
        let login = logins.iter().find(|l| l.role == role).unwrap();
        let session = app.login(login.username, login.password).assert_status(200).json();
        assert!(session["user"]["roles"].as_array().unwrap().iter().any(|r| r == role), "{role}");
    }

    // A month of resident traffic: every deflection tier has something.
    let analyst = logins.iter().find(|l| l.role == "analyst").unwrap();
    let token = app.login(analyst.username, analyst.password).json()["access_token"].as_str().unwrap().to_owned();
    let summary = app.get("/api/v1/deflection/summary").bearer(&token).send().assert_status(200).json();
    for tier in ["confirmed", "probable"] {
        assert!(summary[tier]["count"].as_u64().unwrap() > 10, "{tier}: {summary}");
    }
    assert!(summary["potential"]["viewers"].as_u64().unwrap() > 10, "{summary}");
    assert!(summary["helpful_rate"]["n"].as_u64().unwrap() > 100, "{summary}");
    // Some contact-form visits were held out, so the dashboard's test has two arms.
    let experiment = app.get("/api/v1/deflection/experiment").bearer(&token).send().assert_status(200).json();
    assert_eq!(experiment["holdout_percent"], 10, "{experiment}");
    for arm in experiment["arms"].as_array().unwrap() {
        assert!(arm["intents"].as_u64().unwrap() > 5, "{experiment}");
    }
    assert!(experiment["difference"]["value"].as_f64().unwrap() > 0.0, "held-out visitors send more: {experiment}");
    assert_eq!(app.with_conn(|conn| agora::service::deflection::check_rollups(conn).unwrap()), vec![]);

    let categories = app.get("/api/v1/categories").send().json();
    assert!(categories["items"].as_array().unwrap().len() >= 10);
    let questions = all_questions(&app);
    assert!(questions.len() >= 300, "{} questions", questions.len());
    let count = |status: &str| questions.iter().filter(|q| q["status"] == status).count();
    assert!(count("unanswered") >= 50 && count("solved") >= 100 && count("answered") >= 50);
    assert!(questions.iter().any(|q| q["score"].as_i64().unwrap() > 2));

    // Staff answers carry the staff role for residents to see.
    let solved = questions.iter().find(|q| q["status"] == "solved").unwrap();
    let page = app.question(solved["id"].as_i64().unwrap());
    assert_eq!(page["answers"][0]["accepted"], true);
    let with_staff = questions.iter().take(100).any(|q| {
        let page = app.question(q["id"].as_i64().unwrap());
        page["answers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["author"]["roles"].as_array().unwrap().iter().any(|r| r == "staff"))
    });
    assert!(with_staff);

    // The demo's reputation comes from its votes and acceptances, by the ledger.
    let report = app.with_conn(|conn| agora::service::reputation::check(conn, false).unwrap());
    assert!(report.is_clean(), "{report:?}");
    let top = app.get("/api/v1/users?limit=1").send().json();
    assert!(top["items"][0]["reputation"].as_i64().unwrap() > 100);

    // The same seed gives the same community.
    let again = spawn_app();
    seed(&again);
    let shape = |qs: &[Value]| -> Vec<(Value, Value, Value, Value)> {
        qs.iter()
            .map(|q| (q["title"].clone(), q["author"]["username"].clone(), q["score"].clone(), q["status"].clone()))
            .collect()
    };
    assert_eq!(shape(&questions), shape(&all_questions(&again)));
}

/// With no SMTP server, the demo's mail (a few verified residents' news, a
/// verification, a reset) is in the data directory as `.eml` files.
fn demo_mail_is_written_as_eml_files(app: &TestApp) {
    let dir = app.state.ctx.config.data_dir.join("mail");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let names: Vec<String> = std::fs::read_dir(&dir)
            .map(|entries| entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        let has = |kind: &str| names.iter().any(|n| n.ends_with(&format!("-{kind}.eml")));
        if has("notification") && has("verify_email") && has("password_reset") {
            return;
        }
        assert!(Instant::now() < deadline, "the demo's mail is missing: {names:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
