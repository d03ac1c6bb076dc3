//! How a block is scored, read statically from its OLX definition element: whether edX counts it
//! as scorable (`has_score`), the max score edX collects for it, and the class's default
//! `display_name`.
//!
//! edX collects max scores once per published course version: `GradesTransformer
//! ._collect_max_scores` (openedx/edx-platform `lms/djangoapps/grades/transformer.py`) calls
//! `block.max_score()` on every block whose `has_score` is truthy, and stores the result (raw,
//! before any `weight`) as the block's `max_score`. This module reproduces each `max_score()` from
//! the OLX alone. The `weight` field is not applied here: it is a separate block field.
//!
//! # Rules, per block type
//!
//! * `problem` (capa): `ProblemBlock.has_score = True`; `ProblemBlock.max_score`
//!   (openedx/edx-platform `xmodule/capa_block.py`) builds `LoncapaProblem(..., minimal_init=True)`
//!   and returns `get_max_score()`, or 0 when the constructor raises `LoncapaProblemError`.
//!   `LoncapaProblem.__init__` (`xmodule/capa/capa_problem.py`), with `minimal_init`, runs no
//!   problem code (no `<script>`, no `setup_response`) and:
//!   1. `make_xml_compatible`: an `<optioninput>` with more than one child `<option
//!      correct="true">` (case-insensitive) raises `LoncapaProblemError` (max 0); an `<option>`
//!      without `correct` raises `AttributeError`, which edX does not catch.
//!   2. `_process_includes`: `<include file="…">` reads a course file (not modelled: warning).
//!   3. `_preprocess_problem`: every element, in document order, whose tag is a registered
//!      response type (`@registry.register` classes in `xmodule/capa/responsetypes.py`:
//!      choiceresponse, multiplechoiceresponse, truefalseresponse, optionresponse,
//!      numericalresponse, stringresponse, customresponse, symbolicresponse, coderesponse,
//!      externalresponse, formularesponse, schematicresponse, imageresponse, annotationresponse,
//!      choicetextresponse) becomes a responder; its inputs are its descendants whose tag is a
//!      registered input type (`xmodule/capa/inputtypes.py` registry). Unregistered response tags
//!      count nothing.
//!   4. `LoncapaResponse.__init__`: an input not in the class's `allowed_inputfields`, more inputs
//!      than `max_inputfields`, or a missing/empty `required_attributes` value raises
//!      `LoncapaProblemError` (the whole problem is 0); `max_inputfields == 1` with no input at
//!      all raises `IndexError` (uncaught); each input is worth `int(points)` (default 1; a
//!      non-integer raises `ValueError`, uncaught). `setup_response` is skipped, so
//!      `AnnotationResponse` keeps `points` (default 1), not its options' 2.
//!   5. `get_max_score` = sum over responders of `LoncapaResponse.get_max_score` (the sum of its
//!      inputs' points). A problem without responses is 0.
//!
//!   Where edX raises an exception it does not catch, no max score is known: `max_score` is
//!   `None` with a warning.
//! * `openassessment`: `LmsCompatibilityMixin.has_score` is always true and `max_score` is the
//!   sum over rubric criteria of the highest option `points` (0 for a criterion without
//!   options) (openedx/edx-ora2 `openassessment/xblock/lms_mixin.py`). Points are parsed with
//!   `int()` and every option must have them (`_parse_options_xml`,
//!   `openassessment/xblock/xml.py`); otherwise ORA refuses the definition (warning, `None`).
//! * `drag-and-drop-v2`: `ScorableXBlockMixin`, `max_score()` returns 1
//!   (openedx/xblock-drag-and-drop-v2 `drag_and_drop_v2/drag_and_drop_v2.py`).
//! * `done`: `DoneXBlock.has_score = True`, `max_score()` returns 1 (pmitros/DoneXBlock
//!   `done/done.py`).
//! * `edx_sga`: `has_score = True`, `max_score()` returns the Integer field `points`, default 100
//!   (mitodl/edx-sga `edx_sga/sga.py`; its `parse_xml` sets attributes with
//!   `_set_field_if_present`, i.e. YAML then `Integer.from_json`).
//! * `staffgradedxblock`: `has_score = True`, `max_score()` returns the Float field `weight`,
//!   default 1.0 (openedx/staff_graded-xblock `staff_graded/staff_graded.py`).
//! * `lti` (`LTIBlock`, openedx/edx-platform `xmodule/lti_block.py`) and `lti_consumer`
//!   (`LtiConsumerXBlock`, openedx/xblock-lti-consumer `lti_consumer/lti_xblock.py`): `has_score`
//!   is a Boolean field, default False; `max_score()` is `weight` (Float, default 1.0) when
//!   `has_score`, else None. `lti` is an `XmlMixin` block (attribute values go through
//!   `deserialize_field`: JSON, else the raw string); `lti_consumer` is a pure XBlock (YAML).
//! * Not scorable (`has_score` false or absent on the class, max `None`): course, chapter,
//!   sequential, vertical, html and its about/course_info/static_tab kinds, video, poll, survey,
//!   discussion, annotatable, library_content, itembank, split_test, conditional, wrapper.
//! * Any other type: `has_score` from its `has_score` attribute (YAML, as XBlock's
//!   `_set_field_if_present` reads it), else false; max `None`; a warning naming the type when it
//!   looks scorable (`has_score` true or a `weight` attribute).
//!
//! # Attribute values
//!
//! Pure XBlocks (edx_sga, staffgradedxblock, lti_consumer, unknown types) set a field from an
//! attribute with `XBlock._set_field_if_present` (openedx/XBlock `xblock/core.py`):
//! `Field.from_string` is `yaml.safe_load` then `enforce_type`, which for `Integer`, `Float` and
//! `Boolean` is their `from_json` (`xblock/fields.py`: `int(v)`, `float(v)`, `v.lower() ==
//! 'true'` for a string else `bool(v)`; None and '' read as None). `XmlMixin` blocks (lti) use
//! `deserialize_field` (openedx/edx-platform `xmodule/xml_block.py`): `json.loads`, else the raw
//! string, then the same `from_json` when the field is read.
//!
//! # Default display names
//!
//! [`default_display_name`] is the class's `display_name` field default: `ProblemBlock` "Blank
//! Problem" (`xmodule/capa_block.py`), `HtmlBlock` "Text" (`xmodule/html_block.py`),
//! `VideoFields` "Video" (`xmodule/video_block/video_xfields.py`), `CourseFields` "Empty"
//! (`xmodule/course_block.py`), `DiscussionXBlock` "Discussion" (`xmodule/discussion_block.py`),
//! `LegacyLibraryContentBlock` "Randomized Content Block" (`xmodule/library_content_block.py`),
//! `SplitTestFields` "Content Experiment" (`xmodule/split_test_block.py`), `ConditionalBlock`
//! "Conditional" (`xmodule/conditional_block.py`), `AnnotatableBlock` "Annotation"
//! (`xmodule/annotatable_block.py`), `LTIFields` "LTI" (`xmodule/lti_block.py`); ORA "Open
//! Response Assessment" (`lms_mixin.py`), drag-and-drop-v2 "Drag and Drop", DoneXBlock
//! "Completion", edx-sga "Staff Graded Assignment", staffgradedxblock "Staff Graded Points",
//! lti_consumer "LTI Consumer", xblock-poll `PollBlock` "Poll" and `SurveyBlock` "Survey". chapter,
//! sequential and vertical have none: their `display_name` comes from `XModuleFields`
//! (`xmodule/x_module.py`), default None (edX then shows the url_name, see
//! `xmodule/block_metadata_utils.py`).

use roxmltree::Node;

/// How a block is scored, computed statically from its OLX definition element.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Scoring {
    pub(crate) has_score: bool,
    pub(crate) max_score: Option<f64>,
    pub(crate) warning: Option<String>,
}

impl Scoring {
    fn not_scored() -> Self {
        Scoring { has_score: false, max_score: None, warning: None }
    }

    fn scored(max_score: f64) -> Self {
        Scoring { has_score: true, max_score: Some(max_score), warning: None }
    }

    /// Scorable, but edX would have no max score (it raises, or the value is null).
    fn scored_unknown(warning: String) -> Self {
        Scoring { has_score: true, max_score: None, warning: Some(warning) }
    }
}

/// Block types whose class is not scorable.
const NOT_SCORABLE: &[&str] = &[
    "course",
    "chapter",
    "sequential",
    "vertical",
    "html",
    "about",
    "course_info",
    "static_tab",
    "video",
    "poll",
    "survey",
    "discussion",
    "annotatable",
    "library_content",
    "itembank",
    "split_test",
    "conditional",
    "wrapper",
];

/// `block_type` is the OLX tag; `node` the block's definition element (after a pointer tag is resolved to its file).
pub(crate) fn scoring(block_type: &str, node: Node<'_, '_>) -> Scoring {
    match block_type {
        "problem" => capa_scoring(node),
        "openassessment" => ora_scoring(node),
        "drag-and-drop-v2" | "done" => Scoring::scored(1.0),
        "edx_sga" => sga_scoring(node),
        "staffgradedxblock" => match node.attribute("weight") {
            None => Scoring::scored(1.0),
            Some(raw) => float_field_scoring(block_type, "weight", &yaml_scalar(raw)),
        },
        "lti" => lti_scoring(block_type, node, json_attribute),
        "lti_consumer" => lti_scoring(block_type, node, yaml_scalar),
        t if NOT_SCORABLE.contains(&t) => Scoring::not_scored(),
        other => unknown_scoring(other, node),
    }
}

/// The XBlock class's default display_name for a block type without a stored one (None: the type has none).
pub(crate) fn default_display_name(block_type: &str) -> Option<&'static str> {
    Some(match block_type {
        "problem" => "Blank Problem",
        "html" => "Text",
        "video" => "Video",
        "course" => "Empty",
        "openassessment" => "Open Response Assessment",
        "drag-and-drop-v2" => "Drag and Drop",
        "done" => "Completion",
        "edx_sga" => "Staff Graded Assignment",
        "staffgradedxblock" => "Staff Graded Points",
        "lti" => "LTI",
        "lti_consumer" => "LTI Consumer",
        "poll" => "Poll",
        "survey" => "Survey",
        "discussion" => "Discussion",
        "annotatable" => "Annotation",
        "library_content" => "Randomized Content Block",
        "split_test" => "Content Experiment",
        "conditional" => "Conditional",
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// capa

/// A registered capa response type (`xmodule/capa/responsetypes.py`).
struct ResponseType {
    tag: &'static str,
    allowed_inputs: &'static [&'static str],
    max_inputs: Option<usize>,
    required_attributes: &'static [&'static str],
}

/// `CustomResponse.allowed_inputfields` (also `SymbolicResponse`'s, its subclass).
const CUSTOM_INPUTS: &[&str] = &[
    "textline",
    "textbox",
    "crystallography",
    "chemicalequationinput",
    "vsepr_input",
    "drag_and_drop_input",
    "designprotein2dinput",
    "editageneinput",
    "annotationinput",
    "jsinput",
    "formulaequationinput",
];

const RESPONSE_TYPES: &[ResponseType] = &[
    ResponseType {
        tag: "choiceresponse",
        allowed_inputs: &["checkboxgroup", "radiogroup"],
        max_inputs: Some(1),
        required_attributes: &[],
    },
    ResponseType {
        tag: "multiplechoiceresponse",
        allowed_inputs: &["choicegroup"],
        max_inputs: Some(1),
        required_attributes: &[],
    },
    ResponseType {
        tag: "truefalseresponse",
        allowed_inputs: &["choicegroup"],
        max_inputs: Some(1),
        required_attributes: &[],
    },
    ResponseType {
        tag: "optionresponse",
        allowed_inputs: &["optioninput"],
        max_inputs: None,
        required_attributes: &[],
    },
    ResponseType {
        tag: "numericalresponse",
        allowed_inputs: &["textline", "formulaequationinput"],
        max_inputs: Some(1),
        required_attributes: &["answer"],
    },
    ResponseType {
        tag: "stringresponse",
        allowed_inputs: &["textline"],
        max_inputs: Some(1),
        required_attributes: &["answer"],
    },
    ResponseType {
        tag: "customresponse",
        allowed_inputs: CUSTOM_INPUTS,
        max_inputs: None,
        required_attributes: &[],
    },
    ResponseType {
        tag: "symbolicresponse",
        allowed_inputs: CUSTOM_INPUTS,
        max_inputs: Some(1),
        required_attributes: &[],
    },
    ResponseType {
        tag: "coderesponse",
        allowed_inputs: &["textbox", "filesubmission", "matlabinput"],
        max_inputs: Some(1),
        required_attributes: &[],
    },
    ResponseType {
        tag: "externalresponse",
        allowed_inputs: &["textline", "textbox"],
        max_inputs: None,
        required_attributes: &[],
    },
    ResponseType {
        tag: "formularesponse",
        allowed_inputs: &["textline", "formulaequationinput"],
        max_inputs: Some(1),
        required_attributes: &["answer", "samples"],
    },
    ResponseType {
        tag: "schematicresponse",
        allowed_inputs: &["schematic"],
        max_inputs: None,
        required_attributes: &[],
    },
    ResponseType {
        tag: "imageresponse",
        allowed_inputs: &["imageinput"],
        max_inputs: None,
        required_attributes: &[],
    },
    ResponseType {
        tag: "annotationresponse",
        allowed_inputs: &["annotationinput"],
        max_inputs: Some(1),
        required_attributes: &[],
    },
    ResponseType {
        tag: "choicetextresponse",
        allowed_inputs: &["choicetextgroup", "checkboxtextgroup", "radiotextgroup"],
        max_inputs: Some(1),
        required_attributes: &[],
    },
];

/// The tags of the registered capa input types (`xmodule/capa/inputtypes.py`).
const INPUT_TAGS: &[&str] = &[
    "optioninput",
    "choicegroup",
    "radiogroup",
    "checkboxgroup",
    "jsinput",
    "textline",
    "filesubmission",
    "codeinput",
    "textbox",
    "matlabinput",
    "schematic",
    "imageinput",
    "crystallography",
    "vsepr_input",
    "chemicalequationinput",
    "formulaequationinput",
    "drag_and_drop_input",
    "designprotein2dinput",
    "editageneinput",
    "annotationinput",
    "radiotextgroup",
    "checkboxtextgroup",
];

/// The tag of an element without a namespace (lxml's `//tag` matches only those), or None.
fn plain_tag<'a>(node: Node<'a, '_>) -> Option<&'a str> {
    (node.is_element() && node.tag_name().namespace().is_none()).then(|| node.tag_name().name())
}

fn is_plain(node: Node<'_, '_>, tag: &str) -> bool {
    plain_tag(node) == Some(tag)
}

/// What `ProblemBlock.max_score` does with a problem.
#[derive(Debug, PartialEq)]
enum Capa {
    /// `get_max_score()`.
    Max(i128),
    /// `LoncapaProblemError`: edX logs it and collects 0.
    Rejected(String),
    /// Another exception, which `max_score` does not catch (or a file include, not modelled).
    Fails(String),
}

fn capa_max_score(problem: Node<'_, '_>) -> Capa {
    // LoncapaProblem.make_xml_compatible: dropdowns with more than one correct option.
    for optioninput in problem.descendants().filter(|n| is_plain(*n, "optioninput")) {
        let mut correct = 0;
        for option in optioninput.children().filter(|n| is_plain(*n, "option")) {
            match option.attribute("correct") {
                Some(value) if value.to_uppercase() == "TRUE" => correct += 1,
                Some(_) => {}
                None => {
                    return Capa::Fails(
                        "an <option> of an <optioninput> has no `correct` attribute (edX raises \
                         AttributeError)"
                            .into(),
                    )
                }
            }
        }
        if correct > 1 {
            return Capa::Rejected("Dropdown questions can only have one correct answer.".into());
        }
    }
    // LoncapaProblem._process_includes: reads a file of the course.
    if problem.descendants().skip(1).any(|n| is_plain(n, "include") && n.attribute("file").is_some()) {
        return Capa::Fails("it includes a file (<include file=…>), which is not resolved".into());
    }
    // LoncapaProblem._preprocess_problem, then LoncapaResponse.__init__ for each response.
    let mut total: i128 = 0;
    for response in problem.descendants() {
        let Some(tag) = plain_tag(response) else { continue };
        let Some(kind) = RESPONSE_TYPES.iter().find(|r| r.tag == tag) else { continue };
        let inputs: Vec<(Node<'_, '_>, &str)> = response
            .descendants()
            .skip(1)
            .filter_map(|n| plain_tag(n).filter(|t| INPUT_TAGS.contains(t)).map(|t| (n, t)))
            .collect();
        if let Some((_, input)) = inputs.iter().find(|(_, t)| !kind.allowed_inputs.contains(t)) {
            return Capa::Rejected(format!("<{tag}> cannot have input field <{input}>"));
        }
        if let Some(max) = kind.max_inputs.filter(|max| inputs.len() > *max) {
            return Capa::Rejected(format!("<{tag}> cannot have more than {max} input fields"));
        }
        if let Some(attr) =
            kind.required_attributes.iter().find(|a| response.attribute(**a).is_none_or(str::is_empty))
        {
            return Capa::Rejected(format!("<{tag}> is missing required attribute {attr}"));
        }
        if kind.max_inputs == Some(1) && inputs.is_empty() {
            return Capa::Fails(format!("<{tag}> has no input field (edX raises IndexError)"));
        }
        for (input, input_tag) in &inputs {
            let points = input.attribute("points").unwrap_or("1");
            let Some(points) = python_int(points) else {
                return Capa::Fails(format!(
                    "<{input_tag} points={points:?}> is not an integer (edX raises ValueError)"
                ));
            };
            let Some(sum) = total.checked_add(points) else {
                return Capa::Fails("the points overflow".into());
            };
            total = sum;
        }
    }
    Capa::Max(total)
}

fn capa_scoring(problem: Node<'_, '_>) -> Scoring {
    match capa_max_score(problem) {
        Capa::Max(max) => Scoring::scored(max as f64),
        Capa::Rejected(why) => Scoring {
            has_score: true,
            max_score: Some(0.0),
            warning: Some(format!("problem: edX rejects it ({why}), so its max score is 0")),
        },
        Capa::Fails(why) => Scoring::scored_unknown(format!("problem: {why}; no max score")),
    }
}

// ---------------------------------------------------------------------------------------------
// XBlocks

fn children<'a, 'input: 'a>(
    node: Node<'a, 'input>,
    tag: &'a str,
) -> impl Iterator<Item = Node<'a, 'input>> + 'a {
    node.children().filter(move |n| is_plain(*n, tag))
}

fn ora_scoring(node: Node<'_, '_>) -> Scoring {
    let Some(rubric) = children(node, "rubric").next() else {
        return Scoring::scored_unknown("openassessment: no <rubric> (ORA refuses the definition)".into());
    };
    let mut total: i128 = 0;
    for criterion in children(rubric, "criterion") {
        let mut best: Option<i128> = None;
        for option in children(criterion, "option") {
            let Some(raw) = option.attribute("points") else {
                return Scoring::scored_unknown(
                    "openassessment: an <option> has no `points` (ORA refuses the definition)".into(),
                );
            };
            let Some(points) = python_int(raw) else {
                return Scoring::scored_unknown(format!(
                    "openassessment: option points {raw:?} is not an integer (ORA refuses the definition)"
                ));
            };
            best = Some(best.map_or(points, |b| b.max(points)));
        }
        total = total.saturating_add(best.unwrap_or(0));
    }
    Scoring::scored(total as f64)
}

fn sga_scoring(node: Node<'_, '_>) -> Scoring {
    let Some(raw) = node.attribute("points") else { return Scoring::scored(100.0) };
    match integer_from_json(&yaml_scalar(raw)) {
        Ok(Some(points)) => Scoring::scored(points as f64),
        Ok(None) => Scoring::scored_unknown(format!("edx_sga: points {raw:?} reads as None; no max score")),
        Err(why) => Scoring::scored_unknown(format!("edx_sga: points {raw:?}: {why}; no max score")),
    }
}

/// `max_score()` = a Float field (the `weight`) already known to be present.
fn float_field_scoring(block_type: &str, field: &str, value: &Value) -> Scoring {
    match float_from_json(value) {
        Ok(Some(max)) => Scoring::scored(max),
        Ok(None) => Scoring::scored_unknown(format!("{block_type}: {field} reads as None; no max score")),
        Err(why) => Scoring::scored_unknown(format!("{block_type}: {field}: {why}; no max score")),
    }
}

fn lti_scoring(block_type: &str, node: Node<'_, '_>, read: fn(&str) -> Value) -> Scoring {
    let has_score = match node.attribute("has_score").map(read) {
        None => false,
        Some(value) => match boolean_from_json(&value) {
            Some(b) => b,
            None => {
                return Scoring {
                    has_score: false,
                    max_score: None,
                    warning: Some(format!("{block_type}: has_score {value:?} is not understood")),
                }
            }
        },
    };
    if !has_score {
        return Scoring::not_scored();
    }
    match node.attribute("weight") {
        None => Scoring::scored(1.0),
        Some(raw) => float_field_scoring(block_type, "weight", &read(raw)),
    }
}

fn unknown_scoring(block_type: &str, node: Node<'_, '_>) -> Scoring {
    let has_score =
        node.attribute("has_score").and_then(|raw| boolean_from_json(&yaml_scalar(raw))).unwrap_or(false);
    let looks_scorable = has_score || node.attribute("weight").is_some();
    Scoring {
        has_score,
        max_score: None,
        warning: looks_scorable.then(|| {
            format!("unknown block type `{block_type}` looks scorable (has_score or weight); its max score is unknown")
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// Field values as XBlock reads them from OLX attributes

/// A deserialized attribute value, before the field's `from_json`.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    /// A JSON array or object; `true` when not empty.
    Container(bool),
    /// Something this module does not model (YAML collections, tags, octal, …).
    Other(String),
}

/// `XmlMixin` (`xmodule/xml_block.py` `deserialize_field`): `json.loads`, else the raw string.
/// (Its fallback to the raw string when `from_json` rejects the JSON value changes nothing for
/// the Boolean and Float fields read here.)
fn json_attribute(raw: &str) -> Value {
    match raw.trim() {
        "NaN" => return Value::Float(f64::NAN),
        "Infinity" => return Value::Float(f64::INFINITY),
        "-Infinity" => return Value::Float(f64::NEG_INFINITY),
        _ => {}
    }
    match serde_json::from_str::<serde_json::Value>(raw) {
        Ok(serde_json::Value::Null) => Value::Null,
        Ok(serde_json::Value::Bool(b)) => Value::Bool(b),
        Ok(serde_json::Value::Number(n)) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => Value::Int(i.into()),
            (_, Some(u), _) => Value::Int(u.into()),
            (_, _, Some(f)) => Value::Float(f),
            _ => Value::Other(raw.to_owned()),
        },
        Ok(serde_json::Value::String(s)) => Value::Str(s),
        Ok(serde_json::Value::Array(a)) => Value::Container(!a.is_empty()),
        Ok(serde_json::Value::Object(o)) => Value::Container(!o.is_empty()),
        Err(_) => Value::Str(raw.to_owned()),
    }
}

/// A pure XBlock's `Field.from_string`: `yaml.safe_load` (PyYAML's YAML 1.1 plain scalars).
fn yaml_scalar(raw: &str) -> Value {
    let t = raw.trim();
    match t {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => return Value::Bool(true),
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Value::Bool(false)
        }
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Value::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    if t.len() >= 2
        && ((t.starts_with('\'') && t.ends_with('\'')) || (t.starts_with('"') && t.ends_with('"')))
    {
        return Value::Str(t[1..t.len() - 1].to_owned());
    }
    let unsigned = t.strip_prefix(['+', '-']).unwrap_or(t);
    let digits_or_underscores = |s: &str| s.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    if !unsigned.is_empty() && unsigned.as_bytes()[0].is_ascii_digit() && digits_or_underscores(unsigned) {
        // YAML 1.1 decimal ints are [-+]?(0|[1-9][0-9_]*); a leading 0 means octal.
        if unsigned == "0" || !unsigned.starts_with('0') {
            let cleaned: String = t.chars().filter(|c| *c != '_').collect();
            return cleaned.parse::<i128>().map_or_else(|_| Value::Other(t.to_owned()), Value::Int);
        }
        return Value::Other(t.to_owned());
    }
    if let Some(f) = yaml_float(t) {
        return Value::Float(f);
    }
    let first = t.chars().next().unwrap_or(' ');
    let indicator = ["- ", "? ", ": "].iter().any(|p| t.starts_with(p)) || ["-", "?", ":"].contains(&t);
    if "[{&*!|>%@`#,".contains(first)
        || indicator
        || t.contains(": ")
        || t.contains(" #")
        || t.starts_with("0x")
    {
        return Value::Other(t.to_owned());
    }
    Value::Str(t.to_owned())
}

/// PyYAML's float: `[-+]?([0-9][0-9_]*)?\.[0-9_]*([eE][-+][0-9]+)?` (a dot is required).
fn yaml_float(t: &str) -> Option<f64> {
    let unsigned = t.strip_prefix(['+', '-']).unwrap_or(t);
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], Some(&unsigned[i + 1..])),
        None => (unsigned, None),
    };
    let (int_part, frac_part) = mantissa.split_once('.')?;
    let ok_int = int_part.is_empty()
        || (int_part.as_bytes()[0].is_ascii_digit()
            && int_part.bytes().all(|b| b.is_ascii_digit() || b == b'_'));
    let ok_frac = frac_part.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    let ok_exp = exponent.is_none_or(|e| {
        e.len() >= 2 && e.starts_with(['+', '-']) && e[1..].bytes().all(|b| b.is_ascii_digit())
    });
    if !(ok_int && ok_frac && ok_exp) || (int_part.is_empty() && frac_part.is_empty()) {
        return None;
    }
    let cleaned: String = t.chars().filter(|c| *c != '_').collect();
    cleaned.parse().ok()
}

/// XBlock's `Boolean.from_json`, then Python truthiness; None when not modelled.
fn boolean_from_json(value: &Value) -> Option<bool> {
    Some(match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Int(i) => *i != 0,
        Value::Float(f) => *f != 0.0,
        Value::Str(s) => s.to_lowercase() == "true",
        Value::Container(non_empty) => *non_empty,
        Value::Other(_) => return None,
    })
}

/// XBlock's `Float.from_json`: None for None or ''; else `float(value)`.
fn float_from_json(value: &Value) -> Result<Option<f64>, String> {
    match value {
        Value::Null => Ok(None),
        Value::Str(s) if s.is_empty() => Ok(None),
        Value::Bool(b) => Ok(Some(f64::from(u8::from(*b)))),
        Value::Int(i) => Ok(Some(*i as f64)),
        Value::Float(f) => Ok(Some(*f)),
        Value::Str(s) => python_float(s).map(Some).ok_or_else(|| format!("float({s:?}) raises ValueError")),
        other => Err(format!("float({other:?}) raises")),
    }
}

/// XBlock's `Integer.from_json`: None for None or ''; else `int(value)`.
fn integer_from_json(value: &Value) -> Result<Option<i128>, String> {
    match value {
        Value::Null => Ok(None),
        Value::Str(s) if s.is_empty() => Ok(None),
        Value::Bool(b) => Ok(Some(i128::from(*b))),
        Value::Int(i) => Ok(Some(*i)),
        // int() truncates toward zero; it raises on inf and nan.
        Value::Float(f) if f.is_finite() && f.abs() < 1e30 => Ok(Some(f.trunc() as i128)),
        Value::Str(s) => python_int(s).map(Some).ok_or_else(|| format!("int({s:?}) raises ValueError")),
        other => Err(format!("int({other:?}) raises")),
    }
}

/// Python's `int(str)` for ASCII decimal text: surrounding whitespace, a sign, and single
/// underscores between digits.
fn python_int(raw: &str) -> Option<i128> {
    let t = raw.trim();
    let unsigned = t.strip_prefix(['+', '-']).unwrap_or(t);
    let bytes = unsigned.as_bytes();
    let well_formed = !bytes.is_empty()
        && bytes[0].is_ascii_digit()
        && bytes[bytes.len() - 1].is_ascii_digit()
        && bytes.iter().all(|b| b.is_ascii_digit() || *b == b'_')
        && !unsigned.contains("__");
    if !well_formed {
        return None;
    }
    t.chars().filter(|c| *c != '_').collect::<String>().parse().ok()
}

/// Python's `float(str)`: surrounding whitespace, underscores between digits, inf/nan words.
fn python_float(raw: &str) -> Option<f64> {
    let t = raw.trim();
    let bytes = t.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'_'
            && !(i > 0
                && bytes[i - 1].is_ascii_digit()
                && bytes.get(i + 1).is_some_and(|next| next.is_ascii_digit()))
        {
            return None;
        }
    }
    t.chars().filter(|c| *c != '_').collect::<String>().parse().ok()
}

#[cfg(test)]
mod tests;
