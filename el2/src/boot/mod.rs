//! Boot: the monitor places and maps itself (`start`, `placement`), takes
//! the CPUs of a spin table (`spin_table`), loads the host (`hostload`,
//! `host`) and says what it found (`banner`).

pub mod hostload;
pub mod placement;

#[cfg(target_os = "none")]
pub mod banner;
#[cfg(target_os = "none")]
pub mod host;
#[cfg(target_os = "none")]
pub mod spin_table;
#[cfg(target_os = "none")]
pub mod start;
