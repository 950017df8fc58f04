//! `agora serve --demo`: a believable council community seeded into an
//! empty database, deterministically, with logins printed for each role.
//!
//! The content (`community.jsonl`) is hand-written the way residents write:
//! 12 categories and 370 questions, a quarter unanswered, with answers from
//! residents and council staff. Authors, times and votes are drawn from a
//! seeded generator, so every seed gives the same community.

mod traffic;

use chrono::{Duration, NaiveDateTime};
use serde::Deserialize;

use crate::clock::Clock;
use crate::domain::{Role, TagName};
use crate::error::{ApiError, ApiResult};
use crate::service::accounts::email as account_email;
use crate::service::accounts::passwords;
use crate::service::community::answers;
use crate::service::community::questions;
use crate::service::community::votes;
use crate::service::community::votes::VoteChange;
use crate::service::mail::preferences::Topic;
use crate::service::mail::tokens::Purpose;
use crate::service::mail::{self, MailKind, NotificationPayload, TokenPayload};
use crate::service::markdown;
use crate::service::posts::PostType;
use crate::service::settings::{self, ReputationPoints};
use crate::startup::StartupError;
use crate::store::users::{User, UserInsertForm};
use crate::store::{self, DbConn, write_transaction};

const COMMUNITY: &str = include_str!("community.jsonl");
const DEMO_PASSWORD: &str = "demo-password-2026";
const SEED: u64 = 0x00a6_07a5_eed5;

pub struct DemoLogin {
    pub role: &'static str,
    pub username: &'static str,
    pub password: &'static str,
}

/// The accounts printed at start, one per role.
const DEMO_ACCOUNTS: &[(&str, &str, &str, &[Role])] = &[
    ("admin", "council-admin", "Demo Admin", &[Role::Resident, Role::Admin]),
    ("moderator", "mod-priya", "Priya (moderator)", &[Role::Resident, Role::Moderator]),
    ("staff", "staff-sam", "Sam, Customer Services", &[Role::Resident, Role::Staff]),
    ("analyst", "analyst-omar", "Omar (contact centre)", &[Role::Resident, Role::Analyst]),
    ("resident", "jo_bloggs", "Jo Bloggs", &[Role::Resident]),
];

/// Council officers who answer in their own service's categories.
const STAFF_TEAMS: &[(&str, &str, &[&str])] = &[
    ("waste-team", "Waste Services Team", &["waste-recycling"]),
    ("highways-team", "Highways Team", &["streets-potholes", "parking"]),
    ("revenues-team", "Council Tax & Benefits Team", &["council-tax", "benefits-support"]),
    ("housing-team", "Housing Services", &["housing", "planning-building"]),
];

const RESIDENT_NAMES: &[&str] = &[
    "Maureen",
    "Dev",
    "Aisha",
    "Tom",
    "Grace",
    "Kwame",
    "Lucy",
    "Patrick",
    "Sana",
    "Gareth",
    "Ewa",
    "Mohammed",
    "Hannah",
    "Jamal",
    "Sheila",
    "Ravi",
    "Chloe",
    "Ken",
    "Niamh",
    "Oluwaseun",
    "Bernard",
    "Priti",
    "Callum",
    "Zofia",
    "Ahmed",
    "Bev",
    "Connor",
    "Mei",
    "Doreen",
    "Imran",
    "Kelly",
    "Stuart",
    "Fatima",
    "Liam",
    "Joan",
    "Tariq",
    "Rosie",
    "Wayne",
    "Amara",
    "Colin",
];

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Line {
    Category { slug: String, name: String, description: String },
    Question(DemoQuestion),
}

#[derive(Deserialize)]
struct DemoQuestion {
    category: String,
    title: String,
    body: String,
    #[serde(default)]
    tags: Vec<String>,
    area: Option<String>,
    #[serde(default)]
    answers: Vec<DemoAnswer>,
}

#[derive(Deserialize)]
struct DemoAnswer {
    by: String,
    body: String,
    #[serde(default)]
    accepted: bool,
}

/// A small deterministic generator (SplitMix64): the demo must be the
/// same on every machine, and needs nothing stronger.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Seeds the demo into an empty database. Returns the logins, or `None`
/// when the database already has users (a demo never touches real data).
pub fn seed(conn: &mut DbConn, clock: &Clock) -> Result<Option<Vec<DemoLogin>>, StartupError> {
    if store::users::count(conn)? > 0 {
        return Ok(None);
    }
    let lines = parse_community()?;
    let hash = passwords::hash(DEMO_PASSWORD).map_err(|e| e.to_string())?;
    let now = clock.now();
    write_transaction(conn, |conn| -> ApiResult<i64> {
        let people = create_people(conn, &hash, now)?;
        seed_content(conn, &people, lines, now)?;
        seed_mail(conn, &people, now)?;
        traffic::seed(conn, &mut Rng(SEED ^ 0x7ea0_ff1c), now)?;
        Ok(people.admin_id)
    })
    .and_then(|admin_id| {
        // The demo's traffic holds some contact-form visits out; the
        // settings say so, as an admin would have set them.
        let mut rules = crate::service::settings::load(conn)?;
        rules.deflection.holdout_percent = traffic::HOLDOUT_PERCENT;
        crate::service::settings::change(conn, admin_id, &rules, now)
    })
    .map_err(|e| e.to_string())?;
    Ok(Some(logins()))
}

/// The demo accounts, one per role, with the password they were seeded with.
pub fn logins() -> Vec<DemoLogin> {
    DEMO_ACCOUNTS.iter().map(|&(role, username, ..)| DemoLogin { role, username, password: DEMO_PASSWORD }).collect()
}

/// A few residents with verified addresses, and a mail of each kind their
/// notifications allow, plus a verification and a reset mail: with no SMTP
/// server configured they land in `<data_dir>/mail/` as `.eml` files, so a
/// newcomer sees what residents receive. (The seeded history itself mails
/// nobody: the residents' addresses were unverified while it was written.)
fn seed_mail(conn: &mut DbConn, people: &People, now: NaiveDateTime) -> ApiResult<()> {
    for resident in people.residents.iter().take(MAILED_RESIDENTS) {
        store::mail::mark_verified(conn, resident.id, &resident.email, now)?;
        let mut told = Vec::new();
        let notifications =
            store::notifications::unread_between(conn, resident.id, now - Duration::days(365), now, 500)?;
        for (n, _, _) in notifications.into_iter().rev() {
            let asker = match n.question_id {
                Some(id) => store::questions::find(conn, id)?.map(|q| q.author_id),
                None => None,
            };
            let Some(topic) = Topic::of_notification(&n.kind, asker == Some(resident.id)) else { continue };
            if told.contains(&topic) {
                continue;
            }
            told.push(topic);
            mail::enqueue(
                conn,
                resident.id,
                MailKind::Notification,
                None,
                Some(n.id),
                &NotificationPayload { topic },
                now,
            )?;
        }
    }
    if let Some(newcomer) = people.residents.get(MAILED_RESIDENTS) {
        account_email::send_verification(conn, newcomer.id, &newcomer.email, now)?;
    }
    if let Some(forgetful) = people.residents.get(MAILED_RESIDENTS + 1) {
        let token = mail::tokens::issue(conn, forgetful.id, Purpose::ResetPassword, &forgetful.email, now)?;
        mail::enqueue(
            conn,
            forgetful.id,
            MailKind::PasswordReset,
            Some(&forgetful.email),
            None,
            &TokenPayload { token },
            now,
        )?;
    }
    Ok(())
}

/// Residents of the demo whose addresses are verified.
const MAILED_RESIDENTS: usize = 3;

fn parse_community() -> Result<Vec<Line>, StartupError> {
    COMMUNITY
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, line)| serde_json::from_str(line).map_err(|e| format!("community.jsonl line {}: {e}", i + 1).into()))
        .collect()
}

struct People {
    /// The demo admin, who set the demo's settings.
    admin_id: i64,
    residents: Vec<User>,
    /// (staff user, the categories they answer in).
    teams: Vec<(User, &'static [&'static str])>,
    front_desk: User,
}

fn create_people(conn: &mut DbConn, hash: &str, now: NaiveDateTime) -> ApiResult<People> {
    let since = now - Duration::days(200);
    let mut add = |username: &str, display_name: &str, roles: &[Role]| -> ApiResult<User> {
        let form = UserInsertForm {
            username,
            email: &format!("{username}@demo.agora.invalid"),
            password_hash: Some(hash),
            display_name,
            created_at: since,
            updated_at: since,
        };
        Ok(store::users::insert(conn, &form, roles)?)
    };
    let (mut front_desk, mut admin_id) = (None, 0);
    for &(role, username, display_name, roles) in DEMO_ACCOUNTS {
        let user = add(username, display_name, roles)?;
        match role {
            "staff" => front_desk = Some(user),
            "admin" => admin_id = user.id,
            _ => {}
        }
    }
    let mut teams = Vec::new();
    for &(username, display_name, categories) in STAFF_TEAMS {
        teams.push((add(username, display_name, &[Role::Resident, Role::Staff])?, categories));
    }
    let mut residents = Vec::new();
    for (i, name) in RESIDENT_NAMES.iter().enumerate() {
        let username = format!("{}_{}", name.to_lowercase(), (b'a' + (i % 26) as u8) as char);
        residents.push(add(&username, name, &[Role::Resident])?);
    }
    let front_desk = front_desk.ok_or_else(|| ApiError::internal("demo staff account missing"))?;
    Ok(People { admin_id, residents, teams, front_desk })
}

fn seed_content(conn: &mut DbConn, people: &People, lines: Vec<Line>, now: NaiveDateTime) -> ApiResult<()> {
    let points = settings::load(conn)?.reputation;
    let mut seeder = Seeder { people, rng: Rng(SEED), now, points };
    let question_count = lines.iter().filter(|l| matches!(l, Line::Question(_))).count() as i64;
    let mut index = 0i64;
    for line in lines {
        match line {
            Line::Category { slug, name, description } => {
                store::categories::insert(conn, &slug, &name, &description, now - Duration::days(200))?;
            }
            Line::Question(q) => {
                // Spread over the last ~120 days, oldest first, a few hours apart.
                let hours_ago = (question_count - index) * 120 * 24 / question_count.max(1);
                let asked_at = now - Duration::hours(hours_ago) + Duration::minutes(seeder.rng.below(120) as i64);
                index += 1;
                seeder.question(conn, q, asked_at)?;
            }
        }
    }
    Ok(())
}

/// Places content in time and among people, through the same functions
/// the API uses, so counts, states, revisions and the outbox agree.
struct Seeder<'a> {
    people: &'a People,
    rng: Rng,
    now: NaiveDateTime,
    points: ReputationPoints,
}

/// A post being voted on.
struct Votable {
    post_type: PostType,
    post_id: i64,
    question_id: i64,
    category_id: i64,
    author_id: i64,
}

impl Seeder<'_> {
    fn question(&mut self, conn: &mut DbConn, q: DemoQuestion, asked_at: NaiveDateTime) -> ApiResult<()> {
        let asker_id = self.people.residents[self.rng.below(self.people.residents.len())].id;
        let category = store::categories::find_by_slug(conn, &q.category)?
            .ok_or_else(|| ApiError::internal(format!("demo category {} missing", q.category)))?;
        let tags = TagName::parse_list(&q.tags).map_err(ApiError::internal)?;
        let mut tag_ids = Vec::new();
        for tag in &tags {
            let id = match store::tags::find_by_name(conn, tag.as_str())? {
                Some(existing) => existing.id,
                None => store::tags::insert(conn, tag.as_str(), Some(asker_id), asked_at)?.id,
            };
            tag_ids.push(id);
        }
        let record = questions::QuestionRecord {
            author_id: asker_id,
            category_id: category.id,
            title: &q.title,
            body: &q.body,
            body_html: &markdown::render(&q.body),
            area: q.area.as_deref(),
            tag_ids: &tag_ids,
            tag_list: &questions::tag_list(&tags),
            at: asked_at,
        };
        let question_id = questions::insert(conn, &record)?;
        let mut answered_at = asked_at;
        for answer in q.answers {
            answered_at = self.later(answered_at, 30, 48 * 60);
            self.answer(conn, question_id, asker_id, &q.category, answer, answered_at)?;
        }
        let votable = Votable {
            post_type: PostType::Question,
            post_id: question_id,
            question_id,
            category_id: category.id,
            author_id: asker_id,
        };
        self.votes(conn, &votable, &[asker_id], asked_at, 5)
    }

    fn answer(
        &mut self,
        conn: &mut DbConn,
        question_id: i64,
        asker_id: i64,
        category: &str,
        answer: DemoAnswer,
        at: NaiveDateTime,
    ) -> ApiResult<()> {
        let author_id = self.answer_author(category, &answer.by, asker_id);
        let question = store::questions::find(conn, question_id)?.ok_or_else(|| ApiError::not_found("question"))?;
        let body_html = markdown::render(&answer.body);
        let answer_id = answers::insert(conn, &question, author_id, &answer.body, &body_html, at)?;
        let max_votes = if answer.accepted { 8 } else { 4 };
        let votable = Votable {
            post_type: PostType::Answer,
            post_id: answer_id,
            question_id,
            category_id: question.category_id,
            author_id,
        };
        self.votes(conn, &votable, &[asker_id, author_id], at, max_votes)?;
        if answer.accepted {
            let question = store::questions::find(conn, question_id)?.ok_or_else(|| ApiError::not_found("question"))?;
            let answer = store::answers::find(conn, answer_id)?.ok_or_else(|| ApiError::not_found("answer"))?;
            let accepted_at = self.later(at, 60, 6 * 60);
            answers::set_accepted(conn, &self.points, question, &answer, asker_id, accepted_at)?;
        }
        Ok(())
    }

    /// A time between `min` and `min + spread` minutes after `t`, never in
    /// the future.
    fn later(&mut self, t: NaiveDateTime, min: i64, spread: usize) -> NaiveDateTime {
        (t + Duration::minutes(min + self.rng.below(spread) as i64)).min(self.now)
    }

    fn answer_author(&mut self, category: &str, by: &str, asker_id: i64) -> i64 {
        if by == "staff" {
            let team = self.people.teams.iter().find(|(_, categories)| categories.contains(&category));
            return team.map_or(self.people.front_desk.id, |(user, _)| user.id);
        }
        loop {
            let resident = &self.people.residents[self.rng.below(self.people.residents.len())];
            if resident.id != asker_id {
                return resident.id;
            }
        }
    }

    /// Up to `max` votes from distinct residents (never the post's own
    /// people), mostly up, the odd one down.
    fn votes(
        &mut self,
        conn: &mut DbConn,
        target: &Votable,
        exclude: &[i64],
        after: NaiveDateTime,
        max: usize,
    ) -> ApiResult<()> {
        let count = self.rng.below(max + 1);
        let start = self.rng.below(self.people.residents.len());
        let voters: Vec<i64> = self.people.residents.iter().cycle().skip(start).take(count).map(|u| u.id).collect();
        for voter_id in voters.into_iter().filter(|id| !exclude.contains(id)) {
            let value = if self.rng.below(10) == 0 { -1 } else { 1 };
            let at = self.later(after, 10, 600);
            let change = VoteChange {
                voter_id,
                author_id: target.author_id,
                post_type: target.post_type,
                post_id: target.post_id,
                question_id: target.question_id,
                category_id: target.category_id,
                value,
                at,
            };
            votes::apply(conn, &self.points, None, &change)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_community_file_parses() {
        let lines = super::parse_community().unwrap();
        let questions = lines.iter().filter(|l| matches!(l, super::Line::Question(_))).count();
        let categories = lines.len() - questions;
        assert!(categories >= 10, "{categories} categories");
        assert!(questions >= 300, "{questions} questions");
    }
}
