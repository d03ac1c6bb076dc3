//! The edX tables of an input root, one builder per group of tables ([`build`]): the inverse of
//! each mapping of `regrade import mysql`.

use std::collections::BTreeMap;

use super::*;

/// Every edX table of the input root, as rows to load.
pub(super) fn build(root: &Path, as_of: i64) -> Vec<Table> {
    let mut out = Vec::new();
    let versions = versions(root);
    let long_ago = as_of - 1000 * DAY;

    // auth_user
    let mut t = Table::new(
        "auth_user",
        &[
            "id",
            "password",
            "last_login",
            "is_superuser",
            "username",
            "first_name",
            "last_name",
            "email",
            "is_staff",
            "is_active",
            "date_joined",
        ],
    );
    for r in read_table(root, "users") {
        t.push(vec![
            r.int("id").into(),
            "!".into(),
            Sql::Null,
            false.into(),
            r.string("username").into(),
            "".into(),
            "".into(),
            r.string("email").into(),
            false.into(),
            true.into(),
            Sql::T(long_ago),
        ]);
    }
    out.push(t);

    // student_courseenrollment
    let mut t = Table::new(
        "student_courseenrollment",
        &["id", "course_id", "created", "is_active", "mode", "user_id"],
    );
    for (i, r) in read_table(root, "enrollments").iter().enumerate() {
        t.push(vec![
            (i as i64 + 1).into(),
            r.string("course_id").into(),
            r.time("created").map_or(Sql::Null, Sql::T),
            r.boolean("is_active").expect("is_active").into(),
            r.string("mode").into(),
            r.int("user_id").into(),
        ]);
    }
    out.push(t);

    // courseware_studentmodule: scores, then library selections
    let mut t = Table::new(
        "courseware_studentmodule",
        &[
            "id",
            "module_type",
            "module_id",
            "course_id",
            "state",
            "grade",
            "max_grade",
            "done",
            "created",
            "modified",
            "student_id",
        ],
    );
    let mut id = 0i64;
    for r in read_table(root, "studentmodule") {
        id += 1;
        t.push(vec![
            id.into(),
            r.string("module_type").into(),
            r.string("module_state_key").into(),
            r.string("course_id").into(),
            "{}".into(),
            opt_float(&r, "grade"),
            opt_float(&r, "max_grade"),
            "na".into(),
            Sql::T(r.time("created").expect("created")),
            Sql::T(r.time("modified").expect("modified")),
            r.int("student_id").into(),
        ]);
    }
    for r in read_table(root, "library_selections") {
        id += 1;
        let key = r.string("usage_key");
        let (kind, _) = type_and_id(&key);
        let selected: Vec<serde_json::Value> = r
            .list("selected")
            .unwrap_or_default()
            .iter()
            .map(|k| {
                let (t, i) = type_and_id(k);
                serde_json::json!([t, i])
            })
            .collect();
        let state = serde_json::json!({ "selected": selected }).to_string();
        t.push(vec![
            id.into(),
            kind.into(),
            key.into(),
            r.string("course_id").into(),
            state.into(),
            Sql::Null,
            Sql::Null,
            "na".into(),
            Sql::T(long_ago),
            Sql::T(long_ago),
            r.int("user_id").into(),
        ]);
    }
    out.push(t);

    out.extend(submissions(root));
    out.extend(grades(root));
    out.extend(verifications(root, as_of));
    out.extend(cohorts(root, &versions));

    // user_api_usercoursetag
    let mut t = Table::new("user_api_usercoursetag", &["id", "key", "course_id", "value", "user_id"]);
    for (i, r) in read_table(root, "partition_groups").iter().enumerate() {
        t.push(vec![
            (i as i64 + 1).into(),
            format!("xblock.partition_service.partition_{}", r.int("partition_id")).into(),
            r.string("course_id").into(),
            r.int("group_id").to_string().into(),
            r.int("user_id").into(),
        ]);
    }
    out.push(t);

    out.extend(teams(root, long_ago));
    out.extend(certificates(root, long_ago));
    out.extend(course_index(root, &versions));
    out
}

fn opt_float(r: &Row, c: &str) -> Sql {
    match r.cell(c) {
        Cell::Null => Sql::Null,
        _ => Sql::F(r.float(c)),
    }
}

/// A score edX stores as `int unsigned`.
fn points(r: &Row, c: &str) -> Sql {
    let v = r.float(c);
    assert!(v >= 0.0 && v.fract() == 0.0, "submissions.{c} = {v}: edX stores whole points only");
    Sql::I(v as i64)
}

fn submissions(root: &Path) -> Vec<Table> {
    let mut anon =
        Table::new("student_anonymoususerid", &["id", "anonymous_user_id", "course_id", "user_id"]);
    let mut items =
        Table::new("submissions_studentitem", &["id", "student_id", "course_id", "item_id", "item_type"]);
    let mut subs = Table::new(
        "submissions_submission",
        &[
            "id",
            "uuid",
            "attempt_number",
            "submitted_at",
            "created_at",
            "raw_answer",
            "student_item_id",
            "status",
            "team_submission_id",
        ],
    );
    let mut scores = Table::new(
        "submissions_score",
        &[
            "id",
            "points_earned",
            "points_possible",
            "created_at",
            "reset",
            "student_item_id",
            "submission_id",
        ],
    );
    let mut summaries =
        Table::new("submissions_scoresummary", &["id", "highest_id", "latest_id", "student_item_id"]);
    let mut rows = read_table(root, "submissions");
    // Score ids in the order regrade ranks them (created_at, id): the contract's ids may not
    // fit edX's int column, their order is what counts.
    rows.sort_by_key(|r| (r.time("created_at").expect("created_at"), r.int("id")));
    let mut anon_ids: BTreeMap<(i64, String), String> = BTreeMap::new();
    let mut item_ids: BTreeMap<(i64, String, String), i64> = BTreeMap::new();
    // item -> (latest score id, highest (earned, score id), attempts)
    let mut summary: BTreeMap<i64, (i64, (i64, i64), i64)> = BTreeMap::new();
    for (n, r) in rows.iter().enumerate() {
        let (uid, course, key) = (r.int("user_id"), r.string("course_id"), r.string("usage_key"));
        let next_anon = anon_ids.len() + 1;
        let a = anon_ids.entry((uid, course.clone())).or_insert_with(|| {
            let a = anonymous_id(next_anon);
            anon.push(vec![(next_anon as i64).into(), a.clone().into(), course.clone().into(), uid.into()]);
            a
        });
        let next_item = item_ids.len() as i64 + 1;
        let item = *item_ids.entry((uid, course.clone(), key.clone())).or_insert_with(|| {
            let (kind, _) = type_and_id(&key);
            items.push(vec![
                next_item.into(),
                a.clone().into(),
                course.clone().into(),
                key.clone().into(),
                kind.into(),
            ]);
            next_item
        });
        let id = n as i64 + 1;
        let at = r.time("created_at").expect("created_at");
        let s = summary.entry(item).or_insert((id, (i64::MIN, 0), 0));
        s.0 = id;
        s.2 += 1;
        subs.push(vec![
            id.into(),
            format!("{id:032x}").into(),
            s.2.into(),
            Sql::T(at),
            Sql::T(at),
            "{}".into(),
            item.into(),
            "A".into(),
            Sql::Null,
        ]);
        let earned = points(r, "points_earned");
        if let Sql::I(e) = earned {
            if e >= s.1 .0 {
                s.1 = (e, id);
            }
        }
        scores.push(vec![
            id.into(),
            earned,
            points(r, "points_possible"),
            Sql::T(at),
            false.into(),
            item.into(),
            id.into(),
        ]);
    }
    for (i, (item, (latest, (_, highest), _))) in summary.iter().enumerate() {
        summaries.push(vec![(i as i64 + 1).into(), (*highest).into(), (*latest).into(), (*item).into()]);
    }
    vec![anon, items, subs, scores, summaries]
}

fn grades(root: &Path) -> Vec<Table> {
    let mut vb = Table::new("grades_visibleblocks", &["id", "blocks_json", "hashed", "course_id"]);
    for (i, r) in read_table(root, "visible_blocks").iter().enumerate() {
        vb.push(vec![
            (i as i64 + 1).into(),
            r.string("blocks_json").into(),
            r.string("hashed").into(),
            r.string("course_id").into(),
        ]);
    }
    // The grade tables' columns have the contract's names, in edX's order.
    const PSG: &[&str] = &[
        "created",
        "modified",
        "id",
        "user_id",
        "course_id",
        "usage_key",
        "subtree_edited_timestamp",
        "course_version",
        "earned_all",
        "possible_all",
        "earned_graded",
        "possible_graded",
        "visible_blocks_hash",
        "first_attempted",
    ];
    let mut psg = Table::new("grades_persistentsubsectiongrade", PSG);
    for r in read_table(root, "persistent_subsection_grades") {
        psg.push(same_named(&r, PSG));
    }
    let mut ov = Table::new(
        "grades_persistentsubsectiongradeoverride",
        &[
            "id",
            "created",
            "modified",
            "earned_all_override",
            "possible_all_override",
            "earned_graded_override",
            "possible_graded_override",
            "grade_id",
            "override_reason",
            "system",
        ],
    );
    for (i, r) in read_table(root, "subsection_grade_overrides").iter().enumerate() {
        ov.push(vec![
            (i as i64 + 1).into(),
            Sql::T(r.time("created").unwrap()),
            Sql::T(r.time("modified").unwrap()),
            opt_float(r, "earned_all_override"),
            opt_float(r, "possible_all_override"),
            opt_float(r, "earned_graded_override"),
            opt_float(r, "possible_graded_override"),
            r.int("grade_id").into(),
            r.opt_string("override_reason").into(),
            r.opt_string("system").into(),
        ]);
    }
    const PCG: &[&str] = &[
        "created",
        "modified",
        "id",
        "user_id",
        "course_id",
        "course_edited_timestamp",
        "course_version",
        "grading_policy_hash",
        "percent_grade",
        "letter_grade",
        "passed_timestamp",
    ];
    let mut pcg = Table::new("grades_persistentcoursegrade", PCG);
    for r in read_table(root, "persistent_course_grades") {
        pcg.push(same_named(&r, PCG));
    }
    vec![vb, psg, ov, pcg]
}

/// One verification row per learner, in the table edX would hold it in, dated so that its
/// status at `as_of` is the input's: `approved` a few days old, `expired` an approval of more
/// than 365 days ago, the others a row of that status.
fn verifications(root: &Path, as_of: i64) -> Vec<Table> {
    let mut sspv = Table::new(
        "verify_student_softwaresecurephotoverification",
        &[
            "id",
            "status",
            "status_changed",
            "name",
            "face_image_url",
            "photo_id_image_url",
            "receipt_id",
            "created_at",
            "updated_at",
            "display",
            "submitted_at",
            "reviewing_service",
            "error_msg",
            "error_code",
            "photo_id_key",
            "user_id",
        ],
    );
    let mut sso = Table::new(
        "verify_student_ssoverification",
        &[
            "id",
            "status",
            "status_changed",
            "name",
            "created_at",
            "updated_at",
            "identity_provider_type",
            "identity_provider_slug",
            "user_id",
        ],
    );
    let mut manual = Table::new(
        "verify_student_manualverification",
        &["id", "status", "status_changed", "name", "created_at", "updated_at", "reason", "user_id"],
    );
    let mut attempt = Table::new(
        "verify_student_verificationattempt",
        &["id", "name", "status", "user_id", "created_at", "status_changed", "updated_at"],
    );
    for r in read_table(root, "id_verifications") {
        let uid = r.int("user_id");
        let status = r.string("status");
        let (stored, at) = match status.as_str() {
            "approved" => ("approved", as_of - 3 * DAY - uid),
            "expired" => ("approved", as_of - 400 * DAY - uid),
            "must_retry" | "denied" | "pending" => (status.as_str(), as_of - 10 * DAY - uid),
            other => panic!("id_verifications: unknown status {other}"),
        };
        let t = Sql::T(at);
        match (status.as_str(), uid % 2) {
            ("pending", _) => {
                let n = attempt.rows as i64 + 1;
                attempt.push(vec![
                    n.into(),
                    "".into(),
                    "pending".into(),
                    uid.into(),
                    t.clone(),
                    t.clone(),
                    t,
                ]);
            }
            ("denied", _) => {
                let n = manual.rows as i64 + 1;
                manual.push(vec![
                    n.into(),
                    stored.into(),
                    t.clone(),
                    "".into(),
                    t.clone(),
                    t,
                    "".into(),
                    uid.into(),
                ]);
            }
            ("approved" | "expired", 1) => {
                let n = sso.rows as i64 + 1;
                sso.push(vec![
                    n.into(),
                    stored.into(),
                    t.clone(),
                    "".into(),
                    t.clone(),
                    t,
                    "common.djangoapps.third_party_auth.models.SAMLProviderConfig".into(),
                    "default".into(),
                    uid.into(),
                ]);
            }
            _ => {
                let n = sspv.rows as i64 + 1;
                sspv.push(vec![
                    n.into(),
                    stored.into(),
                    t.clone(),
                    "".into(),
                    "".into(),
                    "".into(),
                    format!("receipt-{n}").into(),
                    t.clone(),
                    t.clone(),
                    true.into(),
                    t,
                    "".into(),
                    "".into(),
                    "".into(),
                    "".into(),
                    uid.into(),
                ]);
            }
        }
    }
    vec![sspv, sso, manual, attempt]
}

/// The policy row of each course's newest published version (else its first row).
fn newest_policies(root: &Path, versions: &BTreeMap<String, Vec<(i64, String)>>) -> BTreeMap<String, Row> {
    let mut out: BTreeMap<String, Row> = BTreeMap::new();
    for r in read_table(root, "course_policies") {
        let course = r.string("course_id");
        let newest = versions.get(&course).and_then(|v| v.last()).map(|(_, v)| v.clone());
        let is_newest = newest.as_deref() == Some(r.string("course_version").as_str());
        if is_newest || !out.contains_key(&course) {
            out.insert(course, r);
        }
    }
    out
}

fn cohorts(root: &Path, versions: &BTreeMap<String, Vec<(i64, String)>>) -> Vec<Table> {
    let mut groups = Table::new("course_groups_courseusergroup", &["id", "name", "course_id", "group_type"]);
    let mut cohort =
        Table::new("course_groups_coursecohort", &["id", "assignment_type", "course_user_group_id"]);
    let mut linked = Table::new(
        "course_groups_courseusergrouppartitiongroup",
        &["id", "partition_id", "group_id", "created_at", "updated_at", "course_user_group_id"],
    );
    let mut members =
        Table::new("course_groups_cohortmembership", &["id", "course_id", "course_user_group_id", "user_id"]);
    let mut settings = Table::new(
        "course_groups_coursecohortssettings",
        &["id", "is_cohorted", "course_id", "cohorted_discussions", "always_cohort_inline_discussions"],
    );
    let mut ids: BTreeMap<(String, String), i64> = BTreeMap::new();
    for (i, r) in read_table(root, "cohort_memberships").iter().enumerate() {
        let (course, name) = (r.string("course_id"), r.string("cohort_name"));
        let next = ids.len() as i64 + 1;
        let gid = *ids.entry((course.clone(), name.clone())).or_insert_with(|| {
            groups.push(vec![next.into(), name.clone().into(), course.clone().into(), "cohort".into()]);
            cohort.push(vec![next.into(), "random".into(), next.into()]);
            if let (Some(p), Some(g)) = (r.opt_int("partition_id"), r.opt_int("group_id")) {
                let n = linked.rows as i64 + 1;
                linked.push(vec![n.into(), p.into(), g.into(), Sql::T(0), Sql::T(0), next.into()]);
            }
            next
        });
        members.push(vec![(i as i64 + 1).into(), course.into(), gid.into(), r.int("user_id").into()]);
    }
    let mut modes = Table::new(
        "course_modes_coursemode",
        &[
            "id",
            "course_id",
            "mode_slug",
            "mode_display_name",
            "min_price",
            "currency",
            "suggested_prices",
            "expiration_datetime_is_explicit",
        ],
    );
    for (course, p) in newest_policies(root, versions) {
        if let Some(cohorted) = p.boolean("cohorted") {
            let n = settings.rows as i64 + 1;
            settings.push(vec![n.into(), cohorted.into(), course.clone().into(), "[]".into(), true.into()]);
        }
        for m in p.list("course_modes").unwrap_or_default() {
            let n = modes.rows as i64 + 1;
            modes.push(vec![
                n.into(),
                course.clone().into(),
                m.clone().into(),
                m.into(),
                0i64.into(),
                "usd".into(),
                "".into(),
                false.into(),
            ]);
        }
    }
    vec![groups, cohort, linked, members, settings, modes]
}

fn teams(root: &Path, at: i64) -> Vec<Table> {
    let mut teams = Table::new(
        "teams_courseteam",
        &[
            "id",
            "team_id",
            "discussion_topic_id",
            "name",
            "course_id",
            "topic_id",
            "date_created",
            "description",
            "country",
            "language",
            "last_activity_at",
            "team_size",
            "organization_protected",
        ],
    );
    let mut members = Table::new(
        "teams_courseteammembership",
        &["id", "date_joined", "last_activity_at", "team_id", "user_id"],
    );
    let mut ids: BTreeMap<(String, String), i64> = BTreeMap::new();
    for (i, r) in read_table(root, "team_memberships").iter().enumerate() {
        let (course, name) = (r.string("course_id"), r.string("team_name"));
        let next = ids.len() as i64 + 1;
        let tid = *ids.entry((course.clone(), name.clone())).or_insert_with(|| {
            teams.push(vec![
                next.into(),
                format!("team-{next}").into(),
                format!("topic-{next}").into(),
                name.clone().into(),
                course.clone().into(),
                "topic".into(),
                Sql::T(at),
                "".into(),
                "".into(),
                "".into(),
                Sql::T(at),
                0i64.into(),
                false.into(),
            ]);
            next
        });
        members.push(vec![
            (i as i64 + 1).into(),
            Sql::T(at),
            Sql::T(at),
            tid.into(),
            r.int("user_id").into(),
        ]);
    }
    vec![teams, members]
}

fn certificates(root: &Path, at: i64) -> Vec<Table> {
    let mut allow = Table::new(
        "certificates_certificateallowlist",
        &["id", "created", "modified", "course_id", "allowlist", "notes", "user_id"],
    );
    for (i, r) in read_table(root, "certificate_allowlist").iter().enumerate() {
        allow.push(vec![
            (i as i64 + 1).into(),
            Sql::T(at),
            Sql::T(at),
            r.string("course_id").into(),
            r.boolean("allowlist").expect("allowlist").into(),
            Sql::Null,
            r.int("user_id").into(),
        ]);
    }
    let mut gen = Table::new(
        "certificates_generatedcertificate",
        &[
            "id",
            "course_id",
            "verify_uuid",
            "download_uuid",
            "download_url",
            "grade",
            "key",
            "distinction",
            "status",
            "mode",
            "name",
            "created_date",
            "modified_date",
            "error_reason",
            "user_id",
        ],
    );
    for (i, r) in read_table(root, "generated_certificates").iter().enumerate() {
        gen.push(vec![
            (i as i64 + 1).into(),
            r.string("course_id").into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            false.into(),
            r.string("status").into(),
            r.string("mode").into(),
            "".into(),
            Sql::T(at),
            Sql::T(at),
            "".into(),
            r.int("user_id").into(),
        ]);
    }
    vec![allow, gen]
}

const INDEX_COLUMNS: &[&str] = &[
    "id",
    "objectid",
    "course_id",
    "org",
    "draft_version",
    "published_version",
    "library_version",
    "wiki_slug",
    "base_store",
    "edited_on",
    "last_update",
];

fn course_index(_root: &Path, versions: &BTreeMap<String, Vec<(i64, String)>>) -> Vec<Table> {
    let mut index = Table::new("split_modulestore_django_splitmodulestorecourseindex", INDEX_COLUMNS);
    let mut history = Table::new(
        "split_modulestore_django_historicalsplitmodulestorecourseindex",
        &[
            "id",
            "objectid",
            "course_id",
            "org",
            "draft_version",
            "published_version",
            "library_version",
            "wiki_slug",
            "base_store",
            "edited_on",
            "last_update",
            "history_date",
            "history_type",
        ],
    );
    for (n, (course, list)) in versions.iter().enumerate() {
        let id = n as i64 + 1;
        let objectid = format!("{id:024x}");
        let org =
            course.strip_prefix("course-v1:").and_then(|r| r.split('+').next()).unwrap_or("").to_string();
        let row = |version: &str, at: i64| -> Vec<Sql> {
            vec![
                id.into(),
                objectid.clone().into(),
                course.clone().into(),
                org.clone().into(),
                version.into(),
                version.into(),
                "".into(),
                "".into(),
                "mongodb".into(),
                Sql::T(at),
                Sql::T(at),
            ]
        };
        for (i, (at, version)) in list.iter().enumerate() {
            let mut h = row(version, *at);
            h.push(Sql::T(*at));
            h.push(if i == 0 { "+" } else { "~" }.into());
            history.push(h);
        }
        let (at, version) = list.last().expect("a version");
        index.push(row(version, *at));
    }
    vec![index, history]
}
