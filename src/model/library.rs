//! Randomized library content: which children of a `library_content` or `itembank` block a
//! learner has (spec §2.3 step 1) [`lms/djangoapps/course_blocks/transformers/library_content.py`,
//! `xmodule/item_bank_block.py` `ItemBankMixin.make_selection`].
//!
//! edX, for every such block of the course structure that has children:
//!
//! * `max_count` below 0 means every child (a missing `max_count` is read as every child too,
//!   as the data contract says);
//! * keeps the learner's stored `selected` entries that are still children of the block, in
//!   stored order (entries no longer children are "invalid" and dropped);
//! * when more remain than `max_count` ("overlimit", `max_count` was lowered) it drops some at
//!   random; when fewer, and other children are left, it adds some at random ("added"); after
//!   any of the three changes it shuffles the list and saves it;
//! * removes from the learner's structure every child of an item bank block that is not
//!   selected under *some* item bank block (a removal filter applied with the other filtering
//!   transformers: the block goes from every parent);
//! * `ContentLibraryOrderTransformer`, after every filter: when the block's remaining children
//!   are exactly its selection, they are put in the selection's order (a child listed twice
//!   takes its last position); otherwise (another transformer removed some) the child order
//!   is kept.
//!
//! What edX does at random cannot be reproduced. regrade decides deterministically and says
//! so ([`SelectionSource`]; the loader counts learners under the manifest's warnings):
//! overlimit keeps the first `max_count` stored entries, and missing ones are filled with the
//! first children, in child order, not yet selected. A learner without any stored selection
//! thus gets the first `max_count` children. Staff are not exempted, as in edX.
//!
//! Simplification: edX compares a selection's entries with the children by
//! `(block_type, block_id)` and orders by `block_id`; regrade uses the full usage key.

use crate::fxhash::FxHashMap;

use super::structure::CourseStructure;

/// Block types whose XBlock class inherits `ItemBankMixin`.
pub(crate) const ITEM_BANK_TYPES: &[&str] = &["library_content", "itembank"];

/// A learner's stored selection of one item bank block (a `library_selections` row), its keys
/// resolved against the graded version.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoredSelection {
    /// The library block.
    pub block: u32,
    /// The stored keys in stored order: the block's index, None for a key that is no block of
    /// the version (edX drops it as invalid).
    pub selected: Vec<Option<u32>>,
}

/// How a learner's selection of one item bank block was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelectionSource {
    /// The stored selection, as edX uses it (nothing random).
    Stored,
    /// No stored selection (no row, or an empty list): edX would choose at random on first
    /// access; regrade took the first `max_count` children.
    Missing,
    /// A stored selection edX would change at random (entries no longer children, more than
    /// `max_count`, or fewer while other children are left); regrade changed it
    /// deterministically.
    Changed,
}

/// A learner's children of each item bank block of a structure (in the order of
/// [`CourseStructure::libraries`]), in the order edX shows them. Learners with equal choices
/// and groups have the same course view.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct LibraryChoice(pub Vec<Vec<u32>>);

/// `make_selection` made deterministic: the selected children of a block with `children`
/// and `max_count`, from the stored entries (None: no stored selection).
pub fn make_selection(
    children: &[u32],
    max_count: Option<i64>,
    stored: Option<&[Option<u32>]>,
) -> (Vec<u32>, SelectionSource) {
    let max = match max_count {
        Some(m) if m >= 0 => m as usize,
        _ => children.len(),
    };
    let entries = stored.unwrap_or(&[]);
    let mut invalid = false;
    let mut kept: Vec<u32> = Vec::with_capacity(entries.len());
    for e in entries {
        match e {
            Some(b) if children.contains(b) => kept.push(*b),
            _ => invalid = true,
        }
    }
    // Distinct entries, each at its last position (edX's ordering dict keeps the last).
    let mut selected: Vec<u32> = Vec::with_capacity(kept.len());
    for (i, &b) in kept.iter().enumerate() {
        if !kept[i + 1..].contains(&b) {
            selected.push(b);
        }
    }
    let overlimit = selected.len() > max;
    selected.truncate(max);
    let mut added = false;
    for &c in children {
        if selected.len() >= max {
            break;
        }
        if !selected.contains(&c) {
            selected.push(c);
            added = true;
        }
    }
    let source = if !(invalid || overlimit || added) {
        SelectionSource::Stored
    } else if entries.is_empty() {
        SelectionSource::Missing
    } else {
        SelectionSource::Changed
    };
    (selected, source)
}

impl CourseStructure {
    /// A learner's choice of children of every item bank block, from their stored selections,
    /// with how each was obtained (block, source) where it is not [`SelectionSource::Stored`].
    pub fn library_choice(&self, stored: &[StoredSelection]) -> (LibraryChoice, Vec<(u32, SelectionSource)>) {
        let mut choice = Vec::with_capacity(self.libraries.len());
        let mut guessed = Vec::new();
        for &lib in &self.libraries {
            let block = &self.blocks[lib as usize];
            let own = stored.iter().find(|s| s.block == lib).map(|s| s.selected.as_slice());
            let (selected, source) = make_selection(&block.children, block.row.max_count, own);
            if source != SelectionSource::Stored {
                guessed.push((lib, source));
            }
            choice.push(selected);
        }
        (LibraryChoice(choice), guessed)
    }

    /// The blocks the library filter removes under `choice` (children of an item bank block
    /// selected under none), and each item bank block's selection by block.
    pub(crate) fn library_filter<'c>(
        &self,
        choice: &'c LibraryChoice,
    ) -> (Vec<bool>, FxHashMap<u32, &'c [u32]>) {
        debug_assert_eq!(choice.0.len(), self.libraries.len(), "a choice made for another structure");
        let mut removed = vec![false; self.blocks.len()];
        let mut order: FxHashMap<u32, &'c [u32]> = FxHashMap::default();
        if self.libraries.is_empty() {
            return (removed, order);
        }
        for &lib in &self.libraries {
            for &c in &self.blocks[lib as usize].children {
                removed[c as usize] = true;
            }
        }
        for (&lib, selected) in self.libraries.iter().zip(&choice.0) {
            order.insert(lib, selected.as_slice());
        }
        for selected in &choice.0 {
            for &c in selected {
                removed[c as usize] = false;
            }
        }
        (removed, order)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SelectionSource::*;

    #[test]
    fn stored_selection_is_kept_in_stored_order() {
        let kids = [10, 11, 12, 13, 14, 15];
        assert_eq!(make_selection(&kids, Some(2), Some(&[Some(14), Some(11)])), (vec![14, 11], Stored));
        // -1 and None: every child.
        assert_eq!(make_selection(&kids, Some(-1), Some(&[])).0, kids.to_vec());
        assert_eq!(make_selection(&kids, None, None), (kids.to_vec(), Missing));
    }

    #[test]
    fn what_edx_does_at_random_is_deterministic_here() {
        let kids = [10, 11, 12];
        assert_eq!(make_selection(&kids, Some(2), None), (vec![10, 11], Missing));
        // An entry no longer a child is dropped, the gap filled with the first free child.
        assert_eq!(make_selection(&kids, Some(2), Some(&[Some(12), None])), (vec![12, 10], Changed));
        assert_eq!(make_selection(&kids, Some(2), Some(&[Some(12), Some(99)])), (vec![12, 10], Changed));
        // max_count lowered: the first stored entries stay.
        assert_eq!(make_selection(&kids, Some(1), Some(&[Some(12), Some(11)])), (vec![12], Changed));
        // Fewer than max_count with no child left to add: nothing random.
        assert_eq!(make_selection(&kids, Some(5), Some(&[Some(12), Some(11), Some(10)])).1, Stored);
        // A child listed twice takes its last position.
        assert_eq!(
            make_selection(&kids, Some(2), Some(&[Some(11), Some(12), Some(11)])),
            (vec![12, 11], Stored)
        );
        assert_eq!(make_selection(&[], Some(2), None), (vec![], Stored));
    }
}
