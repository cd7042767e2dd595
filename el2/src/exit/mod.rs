//! A guest's exits: what the monitor does with each (`handle`), the
//! exceptions it injects (`inject`), and reports made once (`once`).

pub mod inject;
pub mod once;

pub(crate) mod handle;
