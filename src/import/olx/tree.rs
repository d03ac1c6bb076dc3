//! The XML walk: the block tree reachable from `course.xml`, in OLX child order.
//!
//! * A *pointer tag* is an element with only a `url_name` attribute (the course's also has
//!   `org` and `course`), no child elements and no text (`XmlMixin.is_pointer_tag`); its
//!   definition is the file `TAG/URL_NAME.xml` (a `:` in the name is a folder separator, as
//!   edX reads it). Any other element is an *inline* block, defined where it stands, even when
//!   a file of its name exists.
//! * Only container types have child blocks ([`CONTAINERS`]); the elements inside a problem, a
//!   video or an ORA are its content. `wiki` and `textbook` under the course, and `show` under
//!   a conditional, are settings, not blocks.
//! * Files nothing points to (orphans, `drafts/`) are never read.
//!
//! Errors name the file inside the export: a pointer to a missing file, malformed XML, a child
//! cycle, two definitions of one `(type, url_name)`, an inline block without `url_name`.

use std::collections::HashMap;

use roxmltree::{Document, Node};

use super::archive::Export;
use super::fields::Stored;
use super::policy::Policies;
use super::scoring::{self, Scoring};
use crate::read::InputError;

/// Block types whose XML child elements are child blocks.
pub(crate) const CONTAINERS: &[&str] = &[
    "course",
    "chapter",
    "sequential",
    "vertical",
    "unit",
    "split_test",
    "library_content",
    "itembank",
    "conditional",
    "wrapper",
    "randomize",
    "problemset",
    "videosequence",
];

/// Child elements of a container that are not blocks.
fn is_setting_tag(parent: &str, child: &str) -> bool {
    matches!((parent, child), ("course", "wiki" | "textbook") | ("conditional", "show"))
}

/// One block as the export defines it.
#[derive(Debug, Clone)]
pub(crate) struct Block {
    pub(crate) block_type: String,
    pub(crate) url_name: String,
    /// Its definition element's attributes, then its `policy.json` entry over them.
    pub(crate) fields: Vec<(String, Stored)>,
    /// An ORA's `<title>` text.
    pub(crate) title: Option<String>,
    /// Indices of its children in [`Tree::blocks`].
    pub(crate) children: Vec<usize>,
    pub(crate) scoring: Scoring,
    /// The file defining it, as errors and warnings name it.
    pub(crate) file: String,
}

impl Block {
    /// The stored value of a field, if the block sets it.
    pub(crate) fn field(&self, name: &str) -> Option<&Stored> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

/// A course's block tree: `blocks[0]` is the course, blocks in pre-order (OLX child order).
#[derive(Debug)]
pub(crate) struct Tree {
    pub(crate) org: String,
    pub(crate) course: String,
    pub(crate) run: String,
    pub(crate) blocks: Vec<Block>,
}

/// The course's identity from `course.xml`: `(org, course, run)`, and its root element's file.
fn course_identity(export: &Export, doc: &Document<'_>) -> Result<(String, String, String), InputError> {
    let root = doc.root_element();
    let shown = export.shown("course.xml");
    if root.tag_name().name() != "course" {
        return Err(InputError::new(format!(
            "{shown}: the root element is <{}>, expected <course>",
            root.tag_name().name()
        )));
    }
    let get = |name: &str| {
        root.attribute(name)
            .map(str::to_string)
            .ok_or_else(|| InputError::new(format!("{shown}: <course> has no '{name}' attribute")))
    };
    Ok((get("org")?, get("course")?, get("url_name")?))
}

/// Parse a file of the export as XML.
fn parse<'t>(export: &Export, rel: &str, text: &'t str) -> Result<Document<'t>, InputError> {
    Document::parse(text).map_err(|e| InputError::new(format!("{}: malformed XML: {e}", export.shown(rel))))
}

/// Walk the export from `course.xml`.
pub(crate) fn walk(export: &Export) -> Result<(Tree, Policies), InputError> {
    let Some(text) = export.text("course.xml")? else {
        return Err(InputError::new(format!("{}: no course.xml", export.source)));
    };
    let doc = parse(export, "course.xml", text)?;
    let (org, course, run) = course_identity(export, &doc)?;
    let policies = Policies::read(export, &run)?;
    let mut walker =
        Walker { export, policies: &policies, blocks: Vec::new(), defined: HashMap::new(), path: Vec::new() };
    let root = doc.root_element();
    if is_pointer(root) {
        walker.pointer(root, "course", &run, "course.xml")?;
    } else {
        walker.define("course", &run, root, "course.xml")?;
    }
    // The course block's url_name in a usage key is `course`; its policy key is `course/RUN`.
    walker.blocks[0].url_name = "course".to_string();
    let blocks = walker.blocks;
    Ok((Tree { org, course, run, blocks }, policies))
}

/// `XmlMixin.is_pointer_tag`.
fn is_pointer(node: Node<'_, '_>) -> bool {
    let expected: &[&str] =
        if node.tag_name().name() == "course" { &["url_name", "course", "org"] } else { &["url_name"] };
    let attrs: Vec<&str> = node.attributes().map(|a| a.name()).collect();
    let same = attrs.len() == expected.len() && expected.iter().all(|e| attrs.contains(e));
    let has_text = node.children().any(|c| c.is_text() && c.text().is_some_and(|t| !t.trim().is_empty()));
    same && !node.children().any(|c| c.is_element()) && !has_text
}

struct Walker<'e, 'p> {
    export: &'e Export,
    policies: &'p Policies,
    blocks: Vec<Block>,
    /// Where each `(type, url_name)` was defined.
    defined: HashMap<(String, String), String>,
    /// The `(type, url_name)` of the blocks being walked, root first.
    path: Vec<(String, String)>,
}

impl Walker<'_, '_> {
    /// A child element found in `file`.
    fn child(&mut self, node: Node<'_, '_>, file: &str) -> Result<usize, InputError> {
        let tag = node.tag_name().name();
        let Some(url_name) = node.attribute("url_name") else {
            let pos = node.document().text_pos_at(node.range().start);
            return Err(InputError::new(format!(
                "{}: line {}: <{tag}> has no url_name (every block needs one for its usage key)",
                self.export.shown(file),
                pos.row
            )));
        };
        if is_pointer(node) {
            self.pointer(node, tag, url_name, file)
        } else {
            self.define(tag, url_name, node, file)
        }
    }

    /// A pointer tag: the block is defined in `TAG/URL_NAME.xml`.
    fn pointer(
        &mut self,
        node: Node<'_, '_>,
        tag: &str,
        url_name: &str,
        file: &str,
    ) -> Result<usize, InputError> {
        self.check_cycle(tag, url_name, file)?;
        let rel = format!("{tag}/{}.xml", url_name.replace(':', "/"));
        let Some(text) = self.export.text(&rel)? else {
            let pos = node.document().text_pos_at(node.range().start);
            return Err(InputError::new(format!(
                "{}: line {}: <{tag} url_name=\"{url_name}\"/> points to {rel}, which the export does not hold",
                self.export.shown(file),
                pos.row,
            )));
        };
        let doc = parse(self.export, &rel, text)?;
        let root = doc.root_element();
        if root.tag_name().name() != tag {
            return Err(InputError::new(format!(
                "{}: the root element is <{}>, expected <{tag}>",
                self.export.shown(&rel),
                root.tag_name().name()
            )));
        }
        self.define(tag, url_name, root, &rel)
    }

    fn check_cycle(&self, tag: &str, url_name: &str, file: &str) -> Result<(), InputError> {
        if let Some(at) = self.path.iter().position(|(t, u)| t == tag && u == url_name) {
            let cycle: Vec<String> = self.path[at..]
                .iter()
                .chain([&(tag.to_string(), url_name.to_string())])
                .map(|(t, u)| format!("{t}/{u}"))
                .collect();
            return Err(InputError::new(format!(
                "{}: child cycle: {} (a block cannot contain itself)",
                self.export.shown(file),
                cycle.join(" -> ")
            )));
        }
        Ok(())
    }

    /// A block defined by `def` (in `file`), and its subtree.
    fn define(
        &mut self,
        tag: &str,
        url_name: &str,
        def: Node<'_, '_>,
        file: &str,
    ) -> Result<usize, InputError> {
        self.check_cycle(tag, url_name, file)?;
        let key = (tag.to_string(), url_name.to_string());
        if let Some(first) = self.defined.get(&key) {
            return Err(InputError::new(format!(
                "{}: duplicate url_name \"{url_name}\" of type {tag}: already defined in {first} (each (type, url_name) must be one block)",
                self.export.shown(file)
            )));
        }
        self.defined.insert(key.clone(), self.export.shown(file));
        let mut fields: Vec<(String, Stored)> = def
            .attributes()
            .filter(|a| a.name() != "url_name")
            .map(|a| (a.name().to_string(), Stored::Attr(a.value().to_string())))
            .collect();
        for (name, value) in self.policies.of(tag, url_name) {
            if name == "xml_attributes" {
                continue;
            }
            let stored = Stored::Policy(value.clone());
            match fields.iter_mut().find(|(k, _)| k == name) {
                Some(slot) => slot.1 = stored,
                None => fields.push((name.clone(), stored)),
            }
        }
        let title = (tag == "openassessment")
            .then(|| {
                def.children()
                    .find(|c| c.has_tag_name("title"))
                    .map(|t| t.text().unwrap_or_default().to_string())
            })
            .flatten();
        let index = self.blocks.len();
        self.blocks.push(Block {
            block_type: tag.to_string(),
            url_name: url_name.to_string(),
            fields,
            title,
            children: Vec::new(),
            scoring: scoring::scoring(tag, def),
            file: self.export.shown(file),
        });
        if CONTAINERS.contains(&tag) {
            self.path.push(key);
            let mut children = Vec::new();
            for child in def.children().filter(|c| c.is_element()) {
                if is_setting_tag(tag, child.tag_name().name()) {
                    continue;
                }
                children.push(self.child(child, file)?);
            }
            self.path.pop();
            self.blocks[index].children = children;
        }
        Ok(index)
    }
}
