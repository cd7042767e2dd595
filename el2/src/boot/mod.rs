//! Boot: the monitor places and maps itself (`start`, `placement`), takes
//! the CPUs of a spin table (`spin_table`), loads the host (`hostload`,
//! `host`) and says what it found (`banner`).

pub mod hostload;
pub mod placement;

pub(crate) mod banner;
pub(crate) mod host;
pub(crate) mod spin_table;
pub(crate) mod start;
