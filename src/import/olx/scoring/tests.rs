//! The scoring rules' tests: small OLX snippets per rule, and the demo course's facts.

use super::*;

fn score(block_type: &str, xml: &str) -> Scoring {
    let doc = roxmltree::Document::parse(xml).expect("test XML parses");
    scoring(block_type, doc.root_element())
}

fn max(block_type: &str, xml: &str) -> Option<f64> {
    let s = score(block_type, xml);
    assert!(s.has_score, "{block_type} is scorable: {xml}");
    s.max_score
}

#[test]
fn capa_sums_each_input_of_each_registered_response() {
    let xml = r#"<problem>
        <multiplechoiceresponse><choicegroup><choice correct="true">a</choice></choicegroup></multiplechoiceresponse>
        <optionresponse><optioninput options="('a','b')" correct="a"/><optioninput options="('a','b')" correct="b"/></optionresponse>
        <customresponse cfn="f"><textline/><textline points="3"/></customresponse>
    </problem>"#;
    assert_eq!(score("problem", xml), Scoring::scored(7.0));
}

#[test]
fn capa_blank_and_unregistered_responses_count_zero() {
    assert_eq!(score("problem", "<problem/>"), Scoring::scored(0.0));
    assert_eq!(score("problem", "<problem><p>Text only</p></problem>"), Scoring::scored(0.0));
    // Not in the registry (javascriptresponse was removed): ignored, with its inputs.
    let xml = "<problem><javascriptresponse><textline/></javascriptresponse></problem>";
    assert_eq!(score("problem", xml), Scoring::scored(0.0));
    // An input outside any response counts nothing.
    assert_eq!(score("problem", "<problem><textline/></problem>"), Scoring::scored(0.0));
}

#[test]
fn capa_runs_no_problem_code_under_minimal_init() {
    // The script would change nothing anyway: minimal_init never runs it, and `$z` is only
    // checked for presence (required attribute), not evaluated.
    let xml = r#"<problem><script type="loncapa/python">z = 1/0</script>
        <numericalresponse answer="$z"><textline/></numericalresponse></problem>"#;
    assert_eq!(max("problem", xml), Some(1.0));
}

#[test]
fn capa_annotation_input_counts_its_points_not_its_options() {
    let xml = r#"<problem><annotationresponse><annotationinput>
        <options><option choice="correct">a</option><option choice="incorrect">b</option></options>
    </annotationinput></annotationresponse></problem>"#;
    assert_eq!(max("problem", xml), Some(1.0));
    let xml = r#"<problem><annotationresponse><annotationinput points="5"/></annotationresponse></problem>"#;
    assert_eq!(max("problem", xml), Some(5.0));
}

#[test]
fn capa_malformed_problem_is_zero_as_a_whole() {
    let rejected = |xml: &str| {
        let s = score("problem", xml);
        assert!(s.has_score);
        assert_eq!(s.max_score, Some(0.0), "{xml}");
        assert!(s.warning.is_some());
    };
    // Input not allowed for the response type (the other response does not save it).
    rejected(
        "<problem><stringresponse answer='a'><textline/></stringresponse>\
         <multiplechoiceresponse><textline/></multiplechoiceresponse></problem>",
    );
    // More inputs than max_inputfields.
    rejected("<problem><stringresponse answer='a'><textline/><textline/></stringresponse></problem>");
    // A required attribute missing, or empty.
    rejected("<problem><numericalresponse><textline/></numericalresponse></problem>");
    rejected("<problem><numericalresponse answer=''><textline/></numericalresponse></problem>");
    rejected("<problem><formularesponse answer='x'><textline/></formularesponse></problem>");
    // A dropdown with two correct options.
    rejected(
        "<problem><optionresponse><optioninput><option correct='True'>a</option>\
         <option correct='true'>b</option></optioninput></optionresponse></problem>",
    );
    // coderesponse does not allow codeinput, although it is a registered input.
    rejected("<problem><coderesponse><codeinput/></coderesponse></problem>");
}

#[test]
fn capa_dropdown_with_option_children_and_one_correct_is_fine() {
    let xml = "<problem><optionresponse><optioninput><option correct='False'>a</option>\
               <option correct='True'>b</option></optioninput></optionresponse></problem>";
    assert_eq!(score("problem", xml), Scoring::scored(1.0));
}

#[test]
fn capa_uncaught_exceptions_leave_no_max_score() {
    let unknown = |xml: &str| {
        let s = score("problem", xml);
        assert!(s.has_score);
        assert_eq!(s.max_score, None, "{xml}");
        assert!(s.warning.is_some());
    };
    // IndexError: max_inputfields == 1 with no input.
    unknown("<problem><multiplechoiceresponse/></problem>");
    // choicetextgroup is allowed but not a registered input: no input, IndexError.
    unknown("<problem><choicetextresponse><choicetextgroup/></choicetextresponse></problem>");
    // ValueError: int('1.5').
    unknown("<problem><customresponse><textline points='1.5'/></customresponse></problem>");
    // AttributeError: an <option> without `correct`.
    unknown(
        "<problem><optionresponse><optioninput><option>a</option></optioninput></optionresponse></problem>",
    );
    // A file include is not resolved.
    unknown("<problem><include file='q.xml'/></problem>");
}

#[test]
fn capa_points_parse_as_python_int() {
    let xml = "<problem><customresponse><textline points=' 2 '/><textline points='+1_0'/>\
               <textline points='-1'/></customresponse></problem>";
    assert_eq!(max("problem", xml), Some(11.0));
    // A response without an input limit may have none: 0.
    assert_eq!(max("problem", "<problem><customresponse/></problem>"), Some(0.0));
}

#[test]
fn capa_nested_and_namespaced_elements() {
    // Inputs of a nested response count for both responses, as lxml's descendant XPath does.
    let xml =
        "<problem><customresponse><customresponse><textline/></customresponse></customresponse></problem>";
    assert_eq!(max("problem", xml), Some(2.0));
    // lxml's `//tag` does not match namespaced elements.
    let xml = r#"<problem xmlns="urn:x"><stringresponse answer="a"><textline/></stringresponse></problem>"#;
    assert_eq!(max("problem", xml), Some(0.0));
}

#[test]
fn openassessment_sums_each_criterion_best_option() {
    let xml = r#"<openassessment><rubric>
        <criterion><name>a</name><option points="0"><name>x</name></option><option points="5"><name>y</name></option><option points="3"><name>z</name></option></criterion>
        <criterion><name>b</name><option points="4"><name>x</name></option></criterion>
        <criterion feedback="required"><name>c</name></criterion>
    </rubric></openassessment>"#;
    assert_eq!(score("openassessment", xml), Scoring::scored(9.0));
    let s = score("openassessment", "<openassessment/>");
    assert!(s.has_score && s.max_score.is_none() && s.warning.is_some());
    let bad =
        r#"<openassessment><rubric><criterion><option points="1.5"/></criterion></rubric></openassessment>"#;
    assert_eq!(score("openassessment", bad).max_score, None);
}

#[test]
fn xblocks_with_a_fixed_max() {
    assert_eq!(score("drag-and-drop-v2", r#"<drag-and-drop-v2 weight="5"/>"#), Scoring::scored(1.0));
    assert_eq!(score("done", "<done/>"), Scoring::scored(1.0));
}

#[test]
fn edx_sga_points() {
    assert_eq!(score("edx_sga", r#"<edx_sga weight="1.0"/>"#), Scoring::scored(100.0));
    assert_eq!(score("edx_sga", r#"<edx_sga points="25"/>"#), Scoring::scored(25.0));
    assert_eq!(score("edx_sga", r#"<edx_sga points="7.9"/>"#), Scoring::scored(7.0));
    assert_eq!(score("edx_sga", r#"<edx_sga points="'12'"/>"#), Scoring::scored(12.0));
    assert_eq!(score("edx_sga", r#"<edx_sga points=""/>"#).max_score, None);
    assert_eq!(score("edx_sga", r#"<edx_sga points="ten"/>"#).max_score, None);
}

#[test]
fn staffgraded_weight() {
    assert_eq!(score("staffgradedxblock", "<staffgradedxblock/>"), Scoring::scored(1.0));
    assert_eq!(score("staffgradedxblock", r#"<staffgradedxblock weight="2.5"/>"#), Scoring::scored(2.5));
    assert_eq!(score("staffgradedxblock", r#"<staffgradedxblock weight="3"/>"#), Scoring::scored(3.0));
    let null = score("staffgradedxblock", r#"<staffgradedxblock weight="null"/>"#);
    assert!(null.has_score && null.max_score.is_none() && null.warning.is_some());
}

#[test]
fn lti_scored_only_with_has_score() {
    for kind in ["lti", "lti_consumer"] {
        assert_eq!(score(kind, &format!("<{kind}/>")), Scoring::not_scored());
        assert_eq!(score(kind, &format!(r#"<{kind} has_score="false" weight="3"/>"#)), Scoring::not_scored());
        assert_eq!(score(kind, &format!(r#"<{kind} has_score="true"/>"#)), Scoring::scored(1.0));
        assert_eq!(score(kind, &format!(r#"<{kind} has_score="True" weight="2.0"/>"#)), Scoring::scored(2.0));
    }
    // JSON (XmlMixin) against YAML (pure XBlock) booleans.
    assert!(!score("lti", r#"<lti has_score="yes"/>"#).has_score);
    assert!(score("lti_consumer", r#"<lti_consumer has_score="yes"/>"#).has_score);
    assert!(score("lti", r#"<lti has_score="1"/>"#).has_score);
    let bad = score("lti", r#"<lti has_score="true" weight="heavy"/>"#);
    assert!(bad.has_score && bad.max_score.is_none() && bad.warning.is_some());
}

#[test]
fn not_scorable_types() {
    for kind in [
        "html",
        "video",
        "chapter",
        "sequential",
        "vertical",
        "course",
        "poll",
        "survey",
        "discussion",
        "annotatable",
        "library_content",
        "split_test",
        "conditional",
    ] {
        // Even with a has_score attribute: the class decides.
        assert_eq!(score(kind, &format!(r#"<{kind} has_score="true"/>"#)), Scoring::not_scored(), "{kind}");
    }
}

#[test]
fn unknown_types_follow_their_attributes() {
    assert_eq!(score("wiki", r#"<wiki slug="x"/>"#), Scoring::not_scored());
    let s = score("scorm", r#"<scorm has_score="true" weight="1"/>"#);
    assert!(s.has_score && s.max_score.is_none());
    assert!(s.warning.as_deref().is_some_and(|w| w.contains("scorm")));
    let s = score("scorm", r#"<scorm weight="1"/>"#);
    assert!(!s.has_score && s.warning.is_some());
}

#[test]
fn display_name_defaults() {
    assert_eq!(default_display_name("problem"), Some("Blank Problem"));
    assert_eq!(default_display_name("html"), Some("Text"));
    assert_eq!(default_display_name("video"), Some("Video"));
    assert_eq!(default_display_name("edx_sga"), Some("Staff Graded Assignment"));
    assert_eq!(default_display_name("openassessment"), Some("Open Response Assessment"));
    assert_eq!(default_display_name("done"), Some("Completion"));
    assert_eq!(default_display_name("library_content"), Some("Randomized Content Block"));
    assert_eq!(default_display_name("vertical"), None);
    assert_eq!(default_display_name("chapter"), None);
    assert_eq!(default_display_name("no_such_block"), None);
}

#[test]
fn value_parsing() {
    assert_eq!(python_int(" 12 "), Some(12));
    assert_eq!(python_int("1_000"), Some(1000));
    assert_eq!(python_int("1__0"), None);
    assert_eq!(python_int("_1"), None);
    assert_eq!(python_int("1.0"), None);
    assert_eq!(python_int(""), None);
    assert_eq!(python_float(" 1.5 "), Some(1.5));
    assert_eq!(python_float("1_0.5"), Some(10.5));
    assert_eq!(python_float("1e3"), Some(1000.0));
    assert_eq!(python_float("_1"), None);
    assert_eq!(yaml_scalar("10"), Value::Int(10));
    assert_eq!(yaml_scalar("-1_0"), Value::Int(-10));
    assert_eq!(yaml_scalar("1.5"), Value::Float(1.5));
    assert_eq!(yaml_scalar("1e3"), Value::Str("1e3".into()));
    assert_eq!(yaml_scalar("On"), Value::Bool(true));
    assert_eq!(yaml_scalar("~"), Value::Null);
    assert!(matches!(yaml_scalar("010"), Value::Other(_)));
    assert_eq!(json_attribute("1.0"), Value::Float(1.0));
    assert_eq!(json_attribute("True"), Value::Str("True".into()));
    assert_eq!(json_attribute("[]"), Value::Container(false));
}

// --- The Open edX demo course ------------------------------------------------------------

use std::path::{Path, PathBuf};

/// A scorable or other leaf block met walking the course.
#[derive(Debug)]
struct Leaf {
    block_type: String,
    url_name: String,
    in_library: bool,
    weight: Option<f64>,
    scoring: Scoring,
}

/// edX's `is_pointer_tag` (`xmodule/xml_block.py`).
fn is_pointer(node: Node<'_, '_>) -> bool {
    let expected: &[&str] =
        if node.tag_name().name() == "course" { &["course", "org", "url_name"] } else { &["url_name"] };
    let mut attrs: Vec<&str> = node.attributes().map(|a| a.name()).collect();
    attrs.sort_unstable();
    let has_text = node.text().is_some_and(|t| !t.trim().is_empty());
    !node.children().any(|c| c.is_element()) && attrs == expected && !has_text
}

const CONTAINERS: &[&str] = &["course", "chapter", "sequential", "vertical", "library_content"];

/// Walks `node` (resolving pointers to `course/<tag>/<url_name>.xml`), collecting leaves.
fn walk(course: &Path, node: Node<'_, '_>, in_library: bool, out: &mut Vec<Leaf>) {
    let tag = node.tag_name().name();
    if is_pointer(node) {
        let url_name = node.attribute("url_name").expect("pointer has url_name");
        let path = course.join(tag).join(format!("{url_name}.xml"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        return walk_definition(course, doc.root_element(), url_name, in_library, out);
    }
    let url_name = node.attribute("url_name").unwrap_or_default();
    walk_definition(course, node, url_name, in_library, out)
}

fn walk_definition(course: &Path, node: Node<'_, '_>, url_name: &str, in_library: bool, out: &mut Vec<Leaf>) {
    let tag = node.tag_name().name();
    if CONTAINERS.contains(&tag) {
        for child in node.children().filter(|c| c.is_element()) {
            walk(course, child, in_library || tag == "library_content", out);
        }
        return;
    }
    out.push(Leaf {
        block_type: tag.to_owned(),
        url_name: url_name.to_owned(),
        in_library,
        weight: node.attribute("weight").map(|w| w.trim().parse().expect("weight is a number")),
        scoring: scoring(tag, node),
    });
}

/// The leaves under the sequential `url_name`.
fn sequential(course: &Path, url_name: &str) -> Vec<Leaf> {
    let text = format!(r#"<sequential url_name="{url_name}"/>"#);
    let doc = roxmltree::Document::parse(&text).unwrap();
    let mut out = Vec::new();
    walk(course, doc.root_element(), false, &mut out);
    out
}

/// edX's `weighted_score` (`lms/djangoapps/grades/scores.py`): the possible points of a block.
fn weighted_possible(leaf: &Leaf) -> f64 {
    let raw = leaf.scoring.max_score.expect("a max score");
    match leaf.weight {
        Some(weight) if raw != 0.0 => weight,
        _ => raw,
    }
}

/// The unpacked demo course (`course/` folder), or None when the fixture is absent.
fn demo_course() -> Option<(tempfile::TempDir, PathBuf)> {
    let tarball = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/openedx-demo-course/demo-course.tar.gz");
    if !tarball.exists() {
        if std::env::var("REGRADE_REQUIRE_FIXTURES").as_deref() == Ok("1") {
            panic!("REGRADE_REQUIRE_FIXTURES=1 but {} is absent", tarball.display());
        }
        eprintln!("skipped: {} is absent", tarball.display());
        return None;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let status = std::process::Command::new("tar")
        .arg("xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(dir.path())
        .status()
        .expect("tar runs");
    assert!(status.success(), "tar xzf {}", tarball.display());
    let course = dir.path().join("course");
    Some((dir, course))
}

#[test]
fn demo_course_max_scores() {
    let Some((_dir, course)) = demo_course() else { return };
    let scored = |leaves: &[Leaf]| leaves.iter().filter(|l| l.scoring.has_score).count();
    let max_of = |leaves: &[Leaf], prefix: &str| {
        let leaf = leaves.iter().find(|l| l.url_name.starts_with(prefix)).expect(prefix);
        assert_eq!(leaf.scoring.warning, None, "{leaf:?}");
        leaf.scoring.max_score
    };

    // Basic: 12 capa problems, 20 points, no weights.
    let basic = sequential(&course, "276a277f5a784f53a7525e28b96e9a1b");
    let problems: Vec<&Leaf> = basic.iter().filter(|l| l.scoring.has_score).collect();
    assert_eq!(problems.len(), 12);
    assert!(problems.iter().all(|l| l.block_type == "problem" && l.scoring.warning.is_none()));
    assert_eq!(problems.iter().map(|l| l.scoring.max_score.unwrap()).sum::<f64>(), 20.0);
    assert_eq!(max_of(&basic, "85f3f7f9"), Some(8.0)); // Advanced Dropdown
    assert_eq!(max_of(&basic, "ced17817"), Some(2.0)); // Numerical with fractions and constants

    // Intermediate: dnd 1, image capa 1, ORA 10, edx_sga 100 (weight 1), staff graded 1, done 1.
    let intermediate = sequential(&course, "e2206f6f2cd449ab85a7aa424fd0fb72");
    assert_eq!(scored(&intermediate), 6);
    let by_type = |t: &str| {
        let leaf = intermediate.iter().find(|l| l.block_type == t).expect(t);
        assert_eq!(leaf.scoring.warning, None, "{leaf:?}");
        leaf.scoring.max_score
    };
    assert_eq!(by_type("drag-and-drop-v2"), Some(1.0));
    assert_eq!(by_type("problem"), Some(1.0));
    assert_eq!(by_type("openassessment"), Some(10.0));
    assert_eq!(by_type("edx_sga"), Some(100.0));
    assert_eq!(by_type("staffgradedxblock"), Some(1.0));
    assert_eq!(by_type("done"), Some(1.0));
    let possible: f64 = intermediate.iter().filter(|l| l.scoring.has_score).map(weighted_possible).sum();
    assert_eq!(possible, 15.0);

    // Advanced: 7 capa + 2 scored lti + a library_content of 6 capa children, 2 shown.
    let advanced = sequential(&course, "971737e543204551bb34c4ca44e12b86");
    let outside: Vec<&Leaf> = advanced.iter().filter(|l| l.scoring.has_score && !l.in_library).collect();
    let library: Vec<&Leaf> = advanced.iter().filter(|l| l.scoring.has_score && l.in_library).collect();
    assert_eq!(outside.iter().filter(|l| l.block_type == "problem").count(), 7);
    assert_eq!(outside.iter().filter(|l| l.block_type == "lti").count(), 2);
    assert_eq!(library.len(), 6);
    assert!(library.iter().all(|l| l.block_type == "problem" && l.scoring.max_score == Some(1.0)));
    assert_eq!(max_of(&advanced, "53083a81"), Some(4.0)); // Custom Python-evaluated input
    assert_eq!(max_of(&advanced, "29fb15ec"), Some(1.0)); // Annotation problem
    assert!(outside.iter().all(|l| l.scoring.warning.is_none()));
    let possible: f64 = outside.iter().map(|l| weighted_possible(l)).sum::<f64>() + 2.0;
    assert_eq!(possible, 14.0);
    let every_child: f64 = outside.iter().chain(&library).map(|l| weighted_possible(l)).sum();
    assert_eq!(every_child, 18.0);

    // The whole course: 37 scorable blocks, none with a warning.
    let text = std::fs::read_to_string(course.join("course.xml")).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let mut all = Vec::new();
    walk(&course, doc.root_element(), false, &mut all);
    assert_eq!(scored(&all), 37);
    let warned: Vec<&Leaf> = all.iter().filter(|l| l.scoring.warning.is_some()).collect();
    assert!(warned.is_empty(), "{warned:?}");
    for leaf in &all {
        assert!(
            leaf.block_type == "wiki" || default_display_name(&leaf.block_type).is_some(),
            "{} has a default display name",
            leaf.block_type
        );
    }
}
