//! The part of regrade the fuzz targets exercise, compiled from the repository's own source
//! files (nothing is copied): `src/grade/` (pure grading math, hashes, policies), `src/py/` (Python's JSON and number formats),
//! `src/model/structure.rs` and `src/model/library.rs` (the course structure, for `parse_user_partitions` and
//! `parse_group_access`) and `src/fxhash.rs` (the hasher of their maps). See Cargo.toml for why this is a shim and not a dependency on the
//! `regrade` crate. Module paths match the real crate: `regrade::grade::policy`, ...

#[path = "../../src/grade/mod.rs"]
pub mod grade;

#[path = "../../src/fxhash.rs"]
pub mod fxhash;

#[path = "../../src/py/mod.rs"]
pub mod py;

#[doc(hidden)]
#[path = "../../src/model/structure.rs"]
pub mod structure;

#[doc(hidden)]
#[path = "../../src/model/library.rs"]
pub mod library;

/// `regrade::model`, reduced to the modules the grading code and the targets use.
pub mod model {
    pub use crate::library;
    pub use crate::structure;
}
