//! The search-index crate on its own: matching, ranking, filters, facets,
//! snippets and similar questions over a small council corpus.

use search_index::{
    Filters, OpenOutcome, QuestionDoc, SearchIndex, SearchRequest, SimilarRequest, SortOrder, Synonyms,
};

fn doc(id: i64, title: &str, body: &str, category: &str, tags: &[&str], status: &str, score: i64) -> QuestionDoc {
    QuestionDoc {
        id,
        title: title.to_owned(),
        body: body.to_owned(),
        answers: vec![],
        tags: tags.iter().map(|t| t.to_string()).collect(),
        category_slug: category.to_owned(),
        category_name: category.replace('-', " "),
        area: Some("Riverside".to_owned()),
        status: status.to_owned(),
        score,
        answer_count: u64::from(status != "unanswered"),
        accepted: status == "solved",
        verified: false,
        created_at: 1_700_000_000 + id,
        activity_at: 1_700_000_000 + id,
        closed: false,
        duplicate_of: None,
    }
}

fn corpus() -> Vec<QuestionDoc> {
    vec![
        doc(
            1,
            "Green bin not collected on Tuesday",
            "My green bin was missed again this week.",
            "waste",
            &["bins"],
            "solved",
            5,
        ),
        doc(
            2,
            "When are recycling collections?",
            "What day is the recycling collected in Old Town?",
            "waste",
            &["recycling"],
            "answered",
            2,
        ),
        doc(
            3,
            "Huge pothole on Mill Lane",
            "There is a deep pothole outside number 12 damaging cars.",
            "streets",
            &["potholes"],
            "unanswered",
            1,
        ),
        doc(
            4,
            "Council tax band looks wrong",
            "Our council tax band seems too high for a small flat.",
            "council-tax",
            &[],
            "solved",
            7,
        ),
        doc(
            5,
            "Residents parking permit renewal",
            "How do I renew my residents parking permit online?",
            "parking",
            &["permits"],
            "answered",
            0,
        ),
        QuestionDoc {
            answers: vec!["Report missed bins on the council website within two days.".to_owned()],
            ..doc(
                6,
                "Who do I call about missed collection",
                "The lorry skipped our road.",
                "waste",
                &["bins"],
                "solved",
                3,
            )
        },
    ]
}

fn index_with(docs: &[QuestionDoc]) -> (tempdir::Dir, SearchIndex) {
    let dir = tempdir::Dir::new();
    let (index, outcome) = SearchIndex::open(dir.path()).unwrap();
    assert!(matches!(outcome, OpenOutcome::Rebuild { .. }));
    let mut writer = index.writer(50_000_000).unwrap();
    for d in docs {
        writer.upsert(d).unwrap();
    }
    writer.commit(42).unwrap();
    index.reload().unwrap();
    (dir, index)
}

/// A temporary directory without another crate.
mod tempdir {
    pub struct Dir(std::path::PathBuf);
    impl Dir {
        pub fn new() -> Dir {
            let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
            let path = std::env::temp_dir().join(format!("search-index-test-{}-{n}", std::process::id()));
            Dir(path)
        }
        pub fn path(&self) -> &std::path::Path {
            &self.0
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn ids(index: &SearchIndex, text: &str) -> Vec<i64> {
    search(index, SearchRequest { text: text.to_owned(), limit: 10, ..Default::default() })
}

fn search(index: &SearchIndex, request: SearchRequest) -> Vec<i64> {
    let results = index.search(&request, &Synonyms::with_extra(&[])).unwrap();
    results.hits.iter().map(|h| h.question_id).collect()
}

#[test]
fn stems_typos_phrases_and_synonyms_match() {
    let (_dir, index) = index_with(&corpus());
    assert_eq!(ids(&index, "recycling collection"), vec![2]);
    assert!(ids(&index, "collections").contains(&2), "collections ~ collection");
    assert!(ids(&index, "recyclng").contains(&2), "one typo away");
    assert!(ids(&index, "potholle").contains(&3));
    assert!(ids(&index, "pothole").contains(&3));
    assert_eq!(ids(&index, "\"bin not collected\""), vec![1]);
    assert!(ids(&index, "\"not collected bin\"").is_empty(), "a phrase keeps its order");
    assert!(ids(&index, "rubbish").contains(&1), "rubbish finds bin");
    assert!(ids(&index, "road defect").contains(&3), "road defect finds pothole");
    assert!(ids(&index, "rates").contains(&4), "rates finds council tax");
    assert!(ids(&index, "website").contains(&6), "answers are searched");
    assert!(ids(&index, "zzzz qqqq").is_empty());
    let extra = Synonyms::with_extra(&[vec!["lorry".to_owned(), "truck".to_owned()]]);
    let results =
        index.search(&SearchRequest { text: "truck".into(), limit: 5, ..Default::default() }, &extra).unwrap();
    assert_eq!(results.hits[0].question_id, 6, "admins' synonyms apply");
}

#[test]
fn titles_rank_above_bodies() {
    let (_dir, index) = index_with(&[
        doc(1, "A question about something else", "This mentions parking once.", "x", &[], "answered", 0),
        doc(2, "Parking question", "Nothing more to say here.", "x", &[], "answered", 0),
    ]);
    assert_eq!(ids(&index, "parking"), vec![2, 1]);
}

#[test]
fn filters_sorts_facets_and_snippets() {
    let (_dir, index) = index_with(&corpus());
    let all = |filters: Filters, sort: SortOrder| {
        search(&index, SearchRequest { filters, sort, limit: 10, ..Default::default() })
    };
    assert_eq!(all(Filters::default(), SortOrder::Newest), vec![6, 5, 4, 3, 2, 1]);
    assert_eq!(all(Filters::default(), SortOrder::Votes), vec![4, 1, 6, 2, 3, 5]);
    let waste = Filters { category: Some("waste".into()), ..Default::default() };
    assert_eq!(all(waste, SortOrder::Newest), vec![6, 2, 1]);
    let solved_bins = Filters { tag: Some("bins".into()), status: Some("solved".into()), ..Default::default() };
    assert_eq!(all(solved_bins, SortOrder::Newest), vec![6, 1]);
    let nowhere = Filters { area: Some("Elsewhere".into()), ..Default::default() };
    assert!(all(nowhere, SortOrder::Newest).is_empty());

    let results = index
        .search(&SearchRequest { text: "bin".into(), limit: 1, ..Default::default() }, &Synonyms::default())
        .unwrap();
    assert_eq!(results.total, 2);
    assert_eq!(results.hits.len(), 1);
    assert_eq!(results.facets.category.get("waste"), Some(&2));
    assert_eq!(results.facets.status.get("solved"), Some(&2));
    assert_eq!(results.facets.tag.get("bins"), Some(&2));
    assert!(results.hits[0].snippet_html.contains("<mark>"), "{}", results.hits[0].snippet_html);

    let page2 = index
        .search(&SearchRequest { text: "bin".into(), limit: 1, offset: 1, ..Default::default() }, &Synonyms::default())
        .unwrap();
    assert_ne!(page2.hits[0].question_id, results.hits[0].question_id);
}

#[test]
fn snippets_are_html_safe() {
    let hostile =
        doc(1, "Script in the body", "<script>alert('x')</script> bins & <b>bold</b>", "waste", &[], "answered", 0);
    let (_dir, index) = index_with(&[hostile]);
    let results = index
        .search(&SearchRequest { text: "bins".into(), limit: 5, ..Default::default() }, &Synonyms::default())
        .unwrap();
    let snippet = &results.hits[0].snippet_html;
    assert!(!snippet.contains("<script"), "{snippet}");
    assert!(!snippet.contains("<b>"), "{snippet}");
    assert!(snippet.contains("&lt;script&gt;") && snippet.contains("<mark>bins</mark>"), "{snippet}");
}

#[test]
fn hostile_queries_are_text() {
    let (_dir, index) = index_with(&corpus());
    for text in [
        "\"unbalanced",
        "title:bin",
        "+bin -green",
        "bin OR pothole",
        "((((",
        "*",
        "\u{0}\u{1b}[31m",
        "~~~",
        "bin^100",
        "ä ö ü 漢字",
    ] {
        index
            .search(&SearchRequest { text: text.into(), limit: 5, ..Default::default() }, &Synonyms::default())
            .unwrap();
    }
    let long = "bin ".repeat(500);
    assert!(index.search(&SearchRequest { text: long, limit: 5, ..Default::default() }, &Synonyms::default()).is_err());
}

#[test]
fn similar_questions_prefer_solved_and_skip_duplicates() {
    let mut docs = corpus();
    docs.push(QuestionDoc {
        closed: true,
        duplicate_of: Some(1),
        ..doc(7, "Green bin missed Tuesday again", "Bin not emptied", "waste", &[], "unanswered", 0)
    });
    let (_dir, index) = index_with(&docs);
    let hits = index
        .similar(&SimilarRequest { text: "my green bin was not collected".into(), limit: 3, restrict_to: None })
        .unwrap();
    let ids: Vec<i64> = hits.iter().map(|h| h.question_id).collect();
    assert_eq!(ids[0], 1);
    assert!(!ids.contains(&7), "the duplicate is replaced by its target: {ids:?}");
    assert_eq!(ids.iter().filter(|&&i| i == 1).count(), 1);
    let typo = index
        .similar(&SimilarRequest { text: "a potholle is damaging my car".into(), limit: 3, restrict_to: None })
        .unwrap();
    assert_eq!(typo[0].question_id, 3);
    // In a young community every word is "common"; a body-only match is
    // still found (large indexes match common words in titles only).
    let lorry =
        index.similar(&SimilarRequest { text: "the lorry skipped us".into(), limit: 3, restrict_to: None }).unwrap();
    assert_eq!(lorry.first().map(|h| h.question_id), Some(6));
    let restricted =
        index.similar(&SimilarRequest { text: "green bin".into(), limit: 3, restrict_to: Some(vec![6]) }).unwrap();
    assert!(restricted.iter().all(|h| h.question_id == 6));
    assert!(
        index.similar(&SimilarRequest { text: "the and of".into(), limit: 3, restrict_to: None }).unwrap().is_empty()
    );
}

#[test]
fn commits_carry_the_position_and_reopen_ready() {
    let dir = tempdir::Dir::new();
    {
        let (index, _) = SearchIndex::open(dir.path()).unwrap();
        let mut writer = index.writer(20_000_000).unwrap();
        writer.upsert(&corpus()[0]).unwrap();
        writer.commit(17).unwrap();
        assert!(index.writer(20_000_000).is_err(), "one writer at a time");
    }
    let (index, outcome) = SearchIndex::open(dir.path()).unwrap();
    assert_eq!(outcome, OpenOutcome::Ready { position: 17 });
    index.reload().unwrap();
    assert_eq!(index.num_docs(), 1);
    drop(index);
    std::fs::write(dir.path().join("meta.json"), "not json").unwrap();
    let (index, outcome) = SearchIndex::open(dir.path()).unwrap();
    assert!(matches!(outcome, OpenOutcome::Rebuild { .. }), "a corrupt index is rebuilt");
    assert_eq!(index.num_docs(), 0);
}
