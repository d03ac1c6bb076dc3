//! Per-learner course structure: the block transformers edX applies before grading
//! (start dates, staff-only, group access, split tests), and bad structures.

mod common;

use common::*;
use regrade::model::learner::LearnerContext;
use regrade::model::structure::{parse_user_partitions, BlockRow, CourseStructure, Partition};

const NOW: i64 = 1_700_000_000_000_000;
const DAY: i64 = 86_400_000_000;

fn keys(s: &CourseStructure, blocks: &[u32]) -> Vec<String> {
    blocks.iter().map(|&b| s.blocks[b as usize].row.usage_key.clone()).collect()
}

fn subsections_for(s: &CourseStructure, now: i64, group: impl FnMut(i64) -> Option<i64>) -> Vec<String> {
    let v = s.view(now, group);
    keys(s, &v.subsections())
}

#[test]
fn start_dates_release_strictly_after_start() {
    let rows = vec![
        node("course", "course", &["ch"]),
        node("ch", "chapter", &["released", "future", "exact"]),
        BlockRow { start: Some(NOW - DAY), ..seq("released", "R", "Homework", &[]) },
        BlockRow { start: Some(NOW + DAY), ..seq("future", "F", "Homework", &[]) },
        BlockRow { start: Some(NOW), ..seq("exact", "E", "Homework", &[]) },
    ];
    let s = build(rows);
    assert_eq!(subsections_for(&s, NOW, |_| None), ["released"]);
    assert_eq!(subsections_for(&s, NOW + 1, |_| None), ["released", "exact"]);
}

#[test]
fn start_date_is_max_down_a_path_and_min_across_parents() {
    // The problem sits under an unreleased vertical and a released one: it stays, through
    // the released parent. A child with its own future start goes whatever its parents.
    let rows = vec![
        node("course", "course", &["ch"]),
        BlockRow { start: Some(NOW + DAY), ..node("ch_late", "chapter", &[]) },
        node("ch", "chapter", &["seq"]),
        seq("seq", "S", "Homework", &["v_late", "v_ok"]),
        BlockRow { start: Some(NOW + DAY), ..node("v_late", "vertical", &["shared"]) },
        node("v_ok", "vertical", &["shared", "own_future"]),
        problem("shared", 1.0),
        BlockRow { start: Some(NOW + 2 * DAY), ..problem("own_future", 1.0) },
    ];
    let s = build(rows);
    let v = s.view(NOW, |_| None);
    assert_eq!(keys(&s, &v.problems(&s, idx(&s, "seq"))), ["shared"]);
    // A course with no start at all starts on 2030-01-01: nothing is visible in 2023.
    let rows = vec![
        node("course", "course", &["ch"]),
        node("ch", "chapter", &["seq"]),
        seq("seq", "S", "Homework", &[]),
    ];
    let s = CourseStructure::build("c", "v", rows, vec![], &[], None).unwrap();
    assert!(s.view(NOW, |_| None).subsections().is_empty());
}

#[test]
fn staff_only_is_or_down_a_path_and_across_parents() {
    let rows = vec![
        node("course", "course", &["ch"]),
        node("ch", "chapter", &["hidden", "seq"]),
        BlockRow { visible_to_staff_only: Some(true), ..seq("hidden", "H", "Homework", &[]) },
        seq("seq", "S", "Homework", &["v_staff", "v_all"]),
        BlockRow {
            visible_to_staff_only: Some(true),
            ..node("v_staff", "vertical", &["shared", "only_staff"])
        },
        node("v_all", "vertical", &["shared"]),
        problem("shared", 1.0),
        problem("only_staff", 1.0),
    ];
    let s = build(rows);
    let v = s.view(NOW, |_| None);
    assert_eq!(keys(&s, &v.subsections()), ["seq"]);
    assert_eq!(keys(&s, &v.problems(&s, idx(&s, "seq"))), ["shared"]);
}

fn cohort_partition() -> Vec<Partition> {
    parse_user_partitions(
        r#"[{"id": 101, "name": "Content groups", "scheme": "cohort",
             "groups": [{"id": 1, "name": "alpha"}, {"id": 2, "name": "beta"}]},
            {"id": 300, "name": "Old", "scheme": "cohort", "active": false, "groups": [{"id": 1, "name": "x"}]}]"#,
    )
    .unwrap()
}

#[test]
fn cohort_content_groups_e47_shape() {
    let rows = vec![
        node("course", "course", &["ch"]),
        node("ch", "chapter", &["seq"]),
        seq("seq", "S", "Homework", &["v"]),
        node("v", "vertical", &["p0", "p1", "p_all", "p_inactive", "p_nobody"]),
        BlockRow { group_access: Some(r#"{"101": [1]}"#.into()), ..problem("p0", 2.0) },
        BlockRow { group_access: Some(r#"{"101": [2], "999": [5]}"#.into()), ..problem("p1", 2.0) },
        BlockRow { group_access: Some(r#"{"101": []}"#.into()), ..problem("p_all", 2.0) },
        BlockRow { group_access: Some(r#"{"300": [7]}"#.into()), ..problem("p_inactive", 2.0) },
        BlockRow { group_access: Some(r#"{"101": [42]}"#.into()), ..problem("p_nobody", 2.0) },
    ];
    let s = build_with(rows, cohort_partition(), &["audit", "verified"]);
    let modes = vec!["audit".to_string(), "verified".to_string()];
    let problems = |ctx: &LearnerContext| {
        let v = s.view(NOW, |pid| ctx.group_of(&s, &modes, pid));
        keys(&s, &v.problems(&s, idx(&s, "seq")))
    };
    let alpha = LearnerContext {
        mode: "audit".into(),
        is_active: true,
        cohort_group: Some((101, 1)),
        ..Default::default()
    };
    let beta = LearnerContext { cohort_group: Some((101, 2)), ..alpha.clone() };
    let none = LearnerContext { cohort_group: None, ..alpha.clone() };
    // Empty list = unrestricted; unknown and inactive partitions are ignored; a group id
    // nobody has denies everyone.
    assert_eq!(problems(&alpha), ["p0", "p_all", "p_inactive"]);
    assert_eq!(problems(&beta), ["p1", "p_all", "p_inactive"]);
    assert_eq!(problems(&none), ["p_all", "p_inactive"]);
    // A cohort linked to another partition's group gives no group in this one.
    let other = LearnerContext { cohort_group: Some((300, 1)), ..alpha.clone() };
    assert_eq!(problems(&other), ["p_all", "p_inactive"]);
}

#[test]
fn group_access_intersects_down_a_path() {
    let rows = vec![
        node("course", "course", &["ch"]),
        node("ch", "chapter", &["seq"]),
        seq("seq", "S", "Homework", &["v"]),
        BlockRow {
            group_access: Some(r#"{"101": [1, 2]}"#.into()),
            ..node("v", "vertical", &["p_alpha", "p_clash"])
        },
        BlockRow { group_access: Some(r#"{"101": [1]}"#.into()), ..problem("p_alpha", 1.0) },
        BlockRow { group_access: Some(r#"{"101": [3]}"#.into()), ..problem("p_clash", 1.0) },
    ];
    let s = build_with(rows, cohort_partition(), &[]);
    let alpha = s.view(NOW, |pid| (pid == 101).then_some(1));
    assert_eq!(keys(&s, &alpha.problems(&s, idx(&s, "seq"))), ["p_alpha"]);
    let beta = s.view(NOW, |pid| (pid == 101).then_some(2));
    assert!(beta.problems(&s, idx(&s, "seq")).is_empty());
}

#[test]
fn split_test_children_move_to_the_end_of_the_parent() {
    let partitions = parse_user_partitions(
        r#"[{"id": 200, "name": "Experiment", "scheme": "random", "groups": [{"id": 0, "name": "A"}, {"id": 1, "name": "B"}]}]"#,
    )
    .unwrap();
    let rows = vec![
        node("course", "course", &["ch"]),
        node("ch", "chapter", &["seq"]),
        seq("seq", "S", "Homework", &["v"]),
        node("v", "vertical", &["p1", "split", "p2"]),
        node("split", "split_test", &["vA", "vB"]),
        BlockRow { group_access: Some(r#"{"200": [0]}"#.into()), ..node("vA", "vertical", &["pa"]) },
        BlockRow { group_access: Some(r#"{"200": [1]}"#.into()), ..node("vB", "vertical", &["pb"]) },
        problem("p1", 1.0),
        problem("p2", 1.0),
        problem("pa", 1.0),
        problem("pb", 1.0),
    ];
    let s = build_with(rows, partitions, &[]);
    let ctx = |g: Option<i64>| LearnerContext {
        partition_groups: g.map(|g| vec![(200, g)]).unwrap_or_default(),
        ..Default::default()
    };
    let probs = |c: &LearnerContext| {
        let v = s.view(NOW, |pid| c.group_of(&s, &[], pid));
        keys(&s, &v.problems(&s, idx(&s, "seq")))
    };
    // Document order would be p1, pa, p2; edX re-parents the split test's children at the end.
    assert_eq!(probs(&ctx(Some(0))), ["p1", "p2", "pa"]);
    assert_eq!(probs(&ctx(Some(1))), ["p1", "p2", "pb"]);
    assert_eq!(probs(&ctx(None)), ["p1", "p2"]);
}

#[test]
fn enrollment_track_partition_uses_active_mode() {
    let rows = vec![
        node("course", "course", &["ch"]),
        node("ch", "chapter", &["seq"]),
        seq("seq", "S", "Homework", &["v"]),
        node("v", "vertical", &["p_verified", "p_open"]),
        BlockRow { group_access: Some(r#"{"50": [2]}"#.into()), ..problem("p_verified", 1.0) },
        problem("p_open", 1.0),
    ];
    let modes = vec!["audit".to_string(), "verified".to_string()];
    let s = build_with(rows, vec![], &["audit", "verified"]);
    let probs = |mode: &str, active: bool| {
        let c = LearnerContext { mode: mode.into(), is_active: active, ..Default::default() };
        let v = s.view(NOW, |pid| c.group_of(&s, &modes, pid));
        keys(&s, &v.problems(&s, idx(&s, "seq")))
    };
    assert_eq!(probs("verified", true), ["p_verified", "p_open"]);
    assert_eq!(probs("credit", true), ["p_verified", "p_open"]);
    assert_eq!(probs("audit", true), ["p_open"]);
    assert_eq!(probs("verified", false), ["p_open"], "an inactive enrollment has no track group");
    assert_eq!(probs("honor", true), ["p_open"], "a mode the course does not offer counts as audit");
}

#[test]
fn content_type_gating_does_not_remove_graded_problems() {
    // edX's ContentTypeGateTransformer only overrides the `group_access` field; the
    // UserPartitionTransformer decides from the access collected at publish time, so an
    // audit learner keeps gated problems in their grading structure (with 0 earned).
    let rows = vec![
        node("course", "course", &["ch"]),
        node("ch", "chapter", &["seq"]),
        seq("seq", "S", "Homework", &["v"]),
        node("v", "vertical", &["p"]),
        BlockRow { weight: Some(1.0), ..problem("p", 1.0) },
    ];
    let s = build_with(rows, vec![], &["audit", "verified"]);
    let modes = vec!["audit".to_string(), "verified".to_string()];
    let audit = LearnerContext { mode: "audit".into(), is_active: true, ..Default::default() };
    let v = s.view(NOW, |pid| audit.group_of(&s, &modes, pid));
    assert_eq!(keys(&s, &v.problems(&s, idx(&s, "seq"))), ["p"]);
}

#[test]
fn a_subsection_listed_twice_is_graded_once() {
    let rows = vec![
        node("course", "course", &["ch1", "ch2"]),
        node("ch1", "chapter", &["s1", "s1"]),
        node("ch2", "chapter", &["s2", "s1"]),
        seq("s1", "S1", "Homework", &[]),
        seq("s2", "S2", "Homework", &[]),
    ];
    let s = build(rows);
    let v = s.view(NOW, |_| None);
    assert_eq!(v.chapters().iter().map(|(_, subs)| subs.len()).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(keys(&s, &v.subsections()), ["s1", "s2"]);
}

fn build_err(rows: Vec<BlockRow>) -> String {
    CourseStructure::build("course-v1:o+c+r", "v1", rows, vec![], &[], None).unwrap_err().to_string()
}

#[test]
fn bad_structures_are_errors_naming_the_block() {
    let cycle = build_err(vec![
        node("course", "course", &["ch"]),
        node("ch", "chapter", &["seq"]),
        node("seq", "sequential", &["v"]),
        node("v", "vertical", &["seq"]),
    ]);
    assert!(cycle.contains("cycle") && cycle.contains("'seq'"), "{cycle}");

    let unknown = build_err(vec![node("course", "course", &["ghost"])]);
    assert!(unknown.contains("'course'") && unknown.contains("'ghost'"), "{unknown}");

    let dup = build_err(vec![node("course", "course", &[]), node("course", "course", &[])]);
    assert!(dup.contains("appears twice"), "{dup}");

    let no_root = build_err(vec![node("ch", "chapter", &[])]);
    assert!(no_root.contains("no block of type 'course'"), "{no_root}");

    let two_roots = build_err(vec![node("a", "course", &[]), node("b", "course", &[])]);
    assert!(two_roots.contains("exactly one root"), "{two_roots}");

    let bad_access = build_err(vec![
        node("course", "course", &["p"]),
        BlockRow { group_access: Some(r#"{"x": [1]}"#.into()), ..problem("p", 1.0) },
    ]);
    assert!(bad_access.contains("'p'") && bad_access.contains("partition id"), "{bad_access}");

    let bad_json = build_err(vec![
        node("course", "course", &["p"]),
        BlockRow { group_access: Some("{not json".into()), ..problem("p", 1.0) },
    ]);
    assert!(bad_json.contains("'p'") && bad_json.contains("not valid JSON"), "{bad_json}");
}

#[test]
fn user_partitions_errors_name_the_entry() {
    let e = parse_user_partitions(r#"[{"name": "x", "scheme": "cohort", "groups": []}]"#).unwrap_err();
    assert!(e.contains("user_partitions[0]"), "{e}");
    let e = parse_user_partitions(r#"{"id": 1}"#).unwrap_err();
    assert!(e.contains("must be a JSON list"), "{e}");
}

#[test]
fn an_unreleased_split_test_takes_its_children_along() {
    let partitions = parse_user_partitions(
        r#"[{"id": 200, "name": "Experiment", "scheme": "random", "groups": [{"id": 0, "name": "A"}]}]"#,
    )
    .unwrap();
    // vA is a branch of an unreleased split test and also a child of a released vertical.
    let rows = vec![
        node("course", "course", &["ch"]),
        node("ch", "chapter", &["seq"]),
        seq("seq", "S", "Homework", &["v", "v2"]),
        node("v", "vertical", &["split", "p_direct"]),
        BlockRow { start: Some(NOW + DAY), ..node("split", "split_test", &["vA"]) },
        node("v2", "vertical", &["vA"]),
        BlockRow { group_access: Some(r#"{"200": [0]}"#.into()), ..node("vA", "vertical", &["pa"]) },
        problem("pa", 1.0),
        problem("p_direct", 1.0),
    ];
    let s = build_with(rows, partitions, &[]);
    let children = |view: &regrade::model::structure::CourseView, key: &str| {
        keys(&s, &view.children[idx(&s, key) as usize])
    };
    // The split test is removed with its subtree: vA stays, under v2 only.
    let v = s.view(NOW, |pid| (pid == 200).then_some(0));
    assert_eq!(children(&v, "v"), ["p_direct"]);
    assert_eq!(children(&v, "v2"), ["vA"]);
    assert_eq!(keys(&s, &v.problems(&s, idx(&s, "seq"))), ["p_direct", "pa"]);
    // Once released, the split test is dissolved and vA is re-parented at the end of v too.
    let later = s.view(NOW + 2 * DAY, |pid| (pid == 200).then_some(0));
    assert_eq!(children(&later, "v"), ["p_direct", "vA"]);
}
