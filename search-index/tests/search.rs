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
        .similar(
            &SimilarRequest { text: "my green bin was not collected".into(), limit: 3, restrict_to: None },
            &Synonyms::default(),
        )
        .unwrap();
    let ids: Vec<i64> = hits.iter().map(|h| h.question_id).collect();
    assert_eq!(ids[0], 1);
    assert!(!ids.contains(&7), "the duplicate is replaced by its target: {ids:?}");
    assert_eq!(ids.iter().filter(|&&i| i == 1).count(), 1);
    let typo = index
        .similar(
            &SimilarRequest { text: "a potholle is damaging my car".into(), limit: 3, restrict_to: None },
            &Synonyms::default(),
        )
        .unwrap();
    assert_eq!(typo[0].question_id, 3);
    // In a young community every word is "common"; a body-only match is
    // still found (large indexes match common words in titles only).
    let lorry = index
        .similar(
            &SimilarRequest { text: "the lorry skipped us".into(), limit: 3, restrict_to: None },
            &Synonyms::default(),
        )
        .unwrap();
    assert_eq!(lorry.first().map(|h| h.question_id), Some(6));
    let restricted = index
        .similar(
            &SimilarRequest { text: "green bin".into(), limit: 3, restrict_to: Some(vec![6]) },
            &Synonyms::default(),
        )
        .unwrap();
    assert!(restricted.iter().all(|h| h.question_id == 6));
    assert!(
        index
            .similar(&SimilarRequest { text: "the and of".into(), limit: 3, restrict_to: None }, &Synonyms::default())
            .unwrap()
            .is_empty()
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

fn areas_corpus() -> Vec<QuestionDoc> {
    let in_area = |id: i64, title: &str, area: Option<&str>| QuestionDoc {
        area: area.map(str::to_owned),
        ..doc(id, title, "A question about the bins.", "waste", &["bins"], "answered", 0)
    };
    vec![
        in_area(1, "Bins in Riverside", Some("Riverside")),
        in_area(2, "Bins in Old Town", Some("Old Town")),
        in_area(3, "Extra bins in Old Town", Some("Old Town")),
        in_area(4, "Bins in old town, lower case", Some("old town")),
        in_area(5, "Bins with no area", None),
        in_area(6, "Bins on the Hill", Some("Hill / Top")),
    ]
}

fn facet_areas(index: &SearchIndex, request: SearchRequest) -> Vec<(String, u64)> {
    let results = index.search(&request, &Synonyms::default()).unwrap();
    results.facets.area.into_iter().collect()
}

#[test]
fn area_facets_count_every_match_exactly_as_given() {
    let (_dir, index) = index_with(&areas_corpus());
    let expected = vec![
        ("Hill / Top".to_owned(), 1),
        ("Old Town".to_owned(), 2),
        ("Riverside".to_owned(), 1),
        ("old town".to_owned(), 1),
    ];
    // Over every match, not just the page, and whatever the order.
    for sort in [SortOrder::Relevance, SortOrder::Newest, SortOrder::Votes] {
        let request = SearchRequest { text: "bins".into(), sort, limit: 1, ..Default::default() };
        assert_eq!(facet_areas(&index, request), expected, "{sort:?}");
    }
    let everything = SearchRequest { limit: 1, ..Default::default() };
    assert_eq!(facet_areas(&index, everything), expected, "no text: all questions, none without an area");
    let only_riverside = SearchRequest { text: "riverside".into(), limit: 10, ..Default::default() };
    assert_eq!(facet_areas(&index, only_riverside), vec![("Riverside".to_owned(), 1)]);
    let none = SearchRequest { text: "zzzz".into(), limit: 10, ..Default::default() };
    assert!(facet_areas(&index, none).is_empty());
    // The other facets are unaffected by the area ones.
    let results = index.search(&SearchRequest { limit: 1, ..Default::default() }, &Synonyms::default()).unwrap();
    assert_eq!(results.facets.category.get("waste"), Some(&6));
    assert_eq!(results.facets.tag.get("bins"), Some(&6));
    assert_eq!(results.facets.status.len(), 1);
}

#[test]
fn area_filter_is_exact_and_narrows_the_area_facets() {
    let (_dir, index) = index_with(&areas_corpus());
    let in_area = |area: &str| SearchRequest {
        filters: Filters { area: Some(area.to_owned()), ..Default::default() },
        sort: SortOrder::Newest,
        limit: 10,
        ..Default::default()
    };
    assert_eq!(search(&index, in_area("Old Town")), vec![3, 2]);
    assert_eq!(search(&index, in_area("old town")), vec![4], "case is kept");
    assert_eq!(search(&index, in_area("Hill / Top")), vec![6]);
    assert!(search(&index, in_area("Old")).is_empty(), "whole values only");
    assert_eq!(facet_areas(&index, in_area("Old Town")), vec![("Old Town".to_owned(), 2)]);
    let with_text = SearchRequest { text: "extra bins".into(), ..in_area("Old Town") };
    assert_eq!(search(&index, with_text), vec![3]);
}

/// The hit's snippet for `text` with the built-in synonyms (the hit must
/// be found).
fn snippet_of(index: &SearchIndex, text: &str, id: i64) -> String {
    let request = SearchRequest { text: text.into(), limit: 10, ..Default::default() };
    let results = index.search(&request, &Synonyms::with_extra(&[])).unwrap();
    let hit = results.hits.iter().find(|h| h.question_id == id);
    hit.unwrap_or_else(|| panic!("{text:?} does not find {id}: {:?}", results.hits)).snippet_html.clone()
}

/// The marked words of a snippet, and its text outside the marks.
fn marks(snippet: &str) -> (Vec<String>, String) {
    let mut marked = Vec::new();
    let mut outside = String::new();
    let mut rest = snippet;
    while let Some(start) = rest.find("<mark>") {
        outside.push_str(&rest[..start]);
        let after = &rest[start + "<mark>".len()..];
        let end = after.find("</mark>").unwrap_or_else(|| panic!("unclosed mark: {snippet}"));
        marked.push(after[..end].to_owned());
        outside.push(' ');
        rest = &after[end + "</mark>".len()..];
    }
    outside.push_str(rest);
    (marked, outside)
}

/// Asserts the snippet marks exactly `expected` (in order) and leaves none
/// of the words of `never_unmarked` outside a mark.
fn assert_marks(snippet: &str, expected: &[&str], never_unmarked: &[&str]) {
    let (marked, outside) = marks(snippet);
    assert_eq!(marked, expected, "{snippet}");
    let words: Vec<String> =
        outside.split(|c: char| !c.is_alphanumeric()).map(str::to_lowercase).filter(|w| !w.is_empty()).collect();
    for word in never_unmarked {
        assert!(!words.contains(&word.to_lowercase()), "{word} is left unmarked in {snippet}");
    }
}

#[test]
fn snippets_mark_every_form_of_a_stemmed_word() {
    let (_dir, index) = index_with(&[doc(
        1,
        "Garden waste",
        "Collected bins go first. The collection of garden waste is collected fortnightly; collections resume in March.",
        "waste",
        &[],
        "answered",
        0,
    )]);
    let snippet = snippet_of(&index, "collections", 1);
    assert_marks(
        &snippet,
        &["Collected", "collection", "collected", "collections"],
        &["collected", "collection", "collections"],
    );
}

#[test]
fn snippets_mark_typo_corrections() {
    let (_dir, index) = index_with(&corpus());
    let snippet = snippet_of(&index, "recyling", 2);
    assert_marks(&snippet, &["recycling"], &["recycling"]);
    let snippet = snippet_of(&index, "potholle", 3);
    assert_marks(&snippet, &["pothole"], &["pothole"]);
}

#[test]
fn snippets_mark_synonyms_in_the_text() {
    let (_dir, index) = index_with(&[doc(
        1,
        "Left out on the pavement",
        "Rubbish bags and trash were left out; the refuse lorry never came.",
        "waste",
        &[],
        "answered",
        0,
    )]);
    let snippet = snippet_of(&index, "bin", 1);
    assert_marks(&snippet, &["Rubbish", "trash", "refuse"], &["rubbish", "trash", "refuse"]);
}

#[test]
fn snippets_mark_phrases_and_only_where_they_occur() {
    let (_dir, index) = index_with(&[
        doc(
            1,
            "Missed",
            "My green bin was missed; the bin man said it was green waste day.",
            "waste",
            &[],
            "solved",
            0,
        ),
        doc(
            2,
            "A hole",
            "There is a hole in the road by the school, and a pothole in the lane.",
            "streets",
            &[],
            "answered",
            0,
        ),
    ]);
    // A phrase is marked where it occurs, not word by word wherever its
    // words stand alone; so is a multi-word synonym ("hole in the road"),
    // rather than every "in" and "the".
    let green_bin = snippet_of(&index, "\"green bin\"", 1);
    assert_marks(&green_bin, &["green bin"], &[]);
    let pothole = snippet_of(&index, "pothole", 2);
    assert_marks(&pothole, &["hole in the road", "pothole"], &["pothole"]);
}

#[test]
fn snippets_mark_every_query_word_in_one_window() {
    let filler = "The lorry came late and the crew were in a hurry to finish the round before noon. ";
    let body = format!(
        "{filler}{filler}Our street lamp is broken. {filler}Someone reported that the street lamp flickers. {filler}"
    );
    let (_dir, index) = index_with(&[doc(1, "Street lamp", &body, "streets", &[], "answered", 0), corpus()[2].clone()]);
    let snippet = snippet_of(&index, "broken lamp flickers", 1);
    let (marked, _) = marks(&snippet);
    for word in ["broken", "lamp", "flickers"] {
        assert!(marked.iter().any(|m| m.eq_ignore_ascii_case(word)), "{word} is not marked in {snippet}");
    }
    assert!(snippet.chars().count() <= 200 + marked.len() * "<mark></mark>".len(), "{snippet}");
}

#[test]
fn answer_snippets_mark_stems_typos_and_synonyms() {
    let mut question = corpus()[5].clone();
    question.answers = vec![
        "Reported it online. Reporting missed bins is done on the council website; rubbish is collected weekly."
            .to_owned(),
    ];
    let (_dir, index) = index_with(&[question, corpus()[1].clone()]);
    assert_marks(&snippet_of(&index, "website", 6), &["website"], &["website"]);
    assert_marks(&snippet_of(&index, "report", 6), &["Reported", "Reporting"], &["reported", "reporting"]);
    // "bins" and its synonym "rubbish"; the question's own body never
    // mentions either.
    assert_marks(&snippet_of(&index, "bins", 6), &["bins", "rubbish"], &["bins", "rubbish"]);
}

#[test]
fn snippets_are_escaped_and_keep_whole_characters() {
    let hostile = "<script>alert('x')</script> Bins & <b>bold</b> \"quoted\" bins";
    let (_dir, index) = index_with(&[doc(1, "Script", hostile, "waste", &[], "answered", 0)]);
    let snippet = snippet_of(&index, "bins", 1);
    let (marked, outside) = marks(&snippet);
    assert_eq!(marked, ["Bins", "bins"], "{snippet}");
    assert!(!outside.contains('<') && !outside.contains('>'), "only marks are tags: {snippet}");
    assert!(snippet.contains("&lt;script&gt;") && snippet.contains(" &amp; "), "{snippet}");
    assert!(outside.split('&').skip(1).all(is_entity), "every & starts an entity: {snippet}");

    // Multi-byte text whose matches end near the scan cut-off, so that it
    // and the window's ends fall inside characters unless they are careful.
    for pad in 0..4 {
        let body =
            format!("{}{}bins {}bins {}", "x".repeat(pad), "é漢🚮 ".repeat(140), "ñ€字 ".repeat(8), "ü🗑 ".repeat(400));
        let (_dir, index) = index_with(&[doc(1, "Unicode bins", &body, "waste", &[], "answered", 0)]);
        let snippet = snippet_of(&index, "bins", 1);
        let (marked, _) = marks(&snippet);
        assert_eq!(marked, ["bins", "bins"], "{snippet}");
        let text = snippet.replace("<mark>", "").replace("</mark>", "");
        assert!(body.contains(&text), "a piece of the body: {snippet}");
        // No match in the body: its plain start, cut on a character.
        let plain = snippet_of(&index, "unicode", 1);
        assert!(!plain.contains("<mark>") && body.starts_with(&plain), "{plain}");
    }
}

/// Whether text after a `&` starts with a character reference (`amp;`,
/// `#39;`, `#x27;`).
fn is_entity(after_ampersand: &str) -> bool {
    let Some((name, _)) = after_ampersand.split_once(';') else { return false };
    let digits = name.strip_prefix("#x").or_else(|| name.strip_prefix('#'));
    match digits {
        Some(digits) => !digits.is_empty() && digits.chars().all(|c| c.is_ascii_hexdigit()),
        None => ["amp", "lt", "gt", "quot"].contains(&name),
    }
}

fn similar_ids(index: &SearchIndex, text: &str, synonyms: &Synonyms) -> Vec<i64> {
    let request = SimilarRequest { text: text.into(), limit: 3, restrict_to: None };
    index.similar(&request, synonyms).unwrap().iter().map(|h| h.question_id).collect()
}

#[test]
fn similar_questions_read_drafts_as_residents_write_them() {
    let mut docs = corpus();
    // The community misspells too: "recyling" is in one question, while
    // "recycling" is in five.
    docs.push(doc(8, "Can I put pizza boxes in recyling", "Greasy ones?", "waste", &[], "answered", 0));
    for (id, title) in [(9, "Recycling centre opening hours"), (10, "Recycling bags"), (11, "Recycling stickers")] {
        docs.push(doc(id, title, "About recycling.", "waste", &[], "answered", 0));
    }
    let (_dir, index) = index_with(&docs);
    let council = Synonyms::with_extra(&[]);

    // Council synonyms apply to drafts: nobody wrote "rates".
    assert_eq!(similar_ids(&index, "how do I pay my rates", &council).first(), Some(&4));
    assert!(!similar_ids(&index, "how do I pay my rates", &Synonyms::default()).contains(&4));
    // ...and the admins' own groups.
    let extra = Synonyms::with_extra(&[vec!["refuse truck".into(), "lorry".into()]]);
    assert_eq!(similar_ids(&index, "the refuse truck never came", &extra).first(), Some(&6));

    // A word only the community's misspelling matches also asks for the
    // common spelling: the recycling collections question is found.
    let recycling = similar_ids(&index, "recyling collections", &council);
    assert!(recycling.contains(&2), "{recycling:?}");
    // Apostrophe-less contractions are stop words, not evidence.
    assert!(similar_ids(&index, "wasnt isnt dont", &council).is_empty());
}
