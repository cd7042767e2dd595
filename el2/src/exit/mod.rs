//! A guest's exits: what the monitor does with each (`handle`, and `fast`
//! for the `hvc` calls answered straight from the vectors), the
//! exceptions it injects (`inject`), and reports made once (`once`).

pub mod inject;
pub mod once;

pub(crate) mod fast;
pub(crate) mod handle;
