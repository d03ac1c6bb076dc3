//! Compatibility profiles: the edX rules that changed between releases.
//!
//! Persisted grades were computed by whichever edX release was deployed at the time, so a
//! regrade that must reproduce them bit for bit needs that release's rules. Three rules
//! changed (spec §1.1, §4.4 and §5.3):
//!
//! * subsection `percent_graded`: unrounded before openedx-platform PR #16837 (merged Dec
//!   2017, first in Hawthorn), rounded to 2 decimals until PR #27788, to 4 decimals since.
//!   PR #27788 was opened in 2021 but merged only in late September 2024 (after product
//!   review), so Hawthorn through Redwood round to 2 decimals and Sumac is the first
//!   release with 4;
//! * the assignment grader's detail strings: `{:.0%}` up to at least Quince, `{:.2%}` in
//!   current master (the change lies between edx-platform commits `1502821c` and
//!   `8b3497b9`; its PR is not identified). The weighted grader's `grade_breakdown` uses
//!   `.2%` in every release since 2014;
//! * what a missing grade row reads as ([`Absent`]): before Olive, the waffle switch
//!   `grades.assume_zero_grade_if_absent` (read by `assume_zero_if_absent`) decided: off, a
//!   missing subsection grade was computed on read and a missing course grade too; on, both
//!   read as zero. The switch and `PersistentGradesEnabledFlag` were removed in Olive
//!   (2022-10, listed in its release notes): from then on a missing row always reads as zero.
//!
//! Release names are inferred from merge dates (no release branch was available to check).
//!
//! A profile is chosen by name with `--compat NAME`; the default is the newest.

use std::fmt;

/// How `compute_percent` rounds a subsection's graded ratio.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PercentRounding {
    /// `earned / possible`, unrounded (before PR #16837).
    None,
    /// `numpy.around(earned / possible, decimals=N)`.
    Decimals(u8),
}

/// What a subsection or course grade row that does not exist reads as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Absent {
    /// Before Olive: decided by the waffle switch `grades.assume_zero_grade_if_absent`
    /// (off: computed on read, on: zero).
    Switch,
    /// Olive onwards: the switch was removed; a missing row always reads as zero.
    Zero,
}

/// One release's rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Compat {
    pub name: &'static str,
    pub summary: &'static str,
    pub percent_rounding: PercentRounding,
    /// Decimals in the grader's `{percent:.N%}` detail strings.
    pub detail_percent_decimals: usize,
    /// What a missing row reads as.
    pub absent: Absent,
}

/// The release that removed `grades.assume_zero_grade_if_absent`.
pub const SWITCH_REMOVED_IN: &str = "Olive (2022-10)";

/// Every known profile, oldest first. The last one is the default.
pub const PROFILES: &[Compat] = &[
    Compat {
        name: "ginkgo",
        summary: "Ginkgo and older (before PR #16837, Dec 2017): unrounded subsection percents, `.0%` details, \
                  missing rows per grades.assume_zero_grade_if_absent",
        percent_rounding: PercentRounding::None,
        detail_percent_decimals: 0,
        absent: Absent::Switch,
    },
    Compat {
        name: "hawthorn-nutmeg",
        summary: "Hawthorn to Nutmeg (PR #16837 onwards, before Olive): percents rounded to 2 decimals, `.0%` \
                  details, missing rows per grades.assume_zero_grade_if_absent",
        percent_rounding: PercentRounding::Decimals(2),
        detail_percent_decimals: 0,
        absent: Absent::Switch,
    },
    Compat {
        name: "olive-redwood",
        summary: "Olive to Redwood (the switch removed, until PR #27788): percents rounded to 2 decimals, `.0%` \
                  details, a missing row reads as zero",
        percent_rounding: PercentRounding::Decimals(2),
        detail_percent_decimals: 0,
        absent: Absent::Zero,
    },
    Compat {
        name: "sumac",
        summary: "Sumac onwards until the `.2%` detail strings (after PR #27788, Sept 2024): percents rounded to 4 \
                  decimals, `.0%` details, a missing row reads as zero",
        percent_rounding: PercentRounding::Decimals(4),
        detail_percent_decimals: 0,
        absent: Absent::Zero,
    },
    Compat {
        name: "current",
        summary: "current openedx-platform master: percents rounded to 4 decimals, `.2%` details, a missing row \
                  reads as zero",
        percent_rounding: PercentRounding::Decimals(4),
        detail_percent_decimals: 2,
        absent: Absent::Zero,
    },
];

/// A profile name that was split: `hawthorn-redwood` spanned the Olive release, where what
/// a missing row reads as changed, so it cannot stand for one set of rules.
const SPLIT: &[(&str, [&str; 2])] = &[("hawthorn-redwood", ["hawthorn-nutmeg", "olive-redwood"])];

impl Compat {
    /// The newest profile, the default.
    pub fn newest() -> Compat {
        *PROFILES.last().expect("at least one profile")
    }

    /// Looks a profile up by name; the error lists the valid names.
    pub fn by_name(name: &str) -> Result<Compat, UnknownProfile> {
        PROFILES.iter().copied().find(|p| p.name == name).ok_or_else(|| UnknownProfile(name.to_string()))
    }

    /// Whether a missing row reads as zero under this profile, given the run's setting of
    /// `grades.assume_zero_grade_if_absent` (None: not given). Before Olive the switch decides
    /// (default off); from Olive on it is always zero and `off` is refused.
    pub fn absent_reads_zero(&self, switch: Option<bool>) -> Result<bool, String> {
        match (self.absent, switch) {
            (Absent::Switch, s) => Ok(s.unwrap_or(false)),
            (Absent::Zero, Some(false)) => Err(format!(
                "assume_zero_if_absent = off does not apply to release profile '{}': the waffle switch \
                 grades.assume_zero_grade_if_absent was removed in {SWITCH_REMOVED_IN}, and from then on a \
                 missing grade row always reads as zero; drop the setting, or choose a profile before Olive \
                 (ginkgo, hawthorn-nutmeg)",
                self.name
            )),
            (Absent::Zero, _) => Ok(true),
        }
    }
}

impl Default for Compat {
    fn default() -> Self {
        Compat::newest()
    }
}

/// An unknown `--compat` name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownProfile(pub String);

impl fmt::Display for UnknownProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((_, [before, after])) = SPLIT.iter().find(|(old, _)| *old == self.0) {
            return write!(
                f,
                "release profile '{}' was split at {SWITCH_REMOVED_IN}, where a missing grade row started \
                 to read as zero: use '{before}' for Hawthorn to Nutmeg or '{after}' for Olive to Redwood",
                self.0
            );
        }
        let names: Vec<&str> = PROFILES.iter().map(|p| p.name).collect();
        write!(f, "unknown compatibility profile '{}'; choose one of: {}", self.0, names.join(", "))
    }
}

impl std::error::Error for UnknownProfile {}
