//! Memory: ranges, translation tables and their records (`pagetable`,
//! `mappings`, `trapmap`, `space`), the monitor's and the host's MMU setup
//! (`mmu`), host buffers (`hostmem`), the heap and VMIDs.

pub mod mappings;
pub mod pagetable;
pub mod range;
pub mod space;
pub mod trapmap;
pub mod vmid;

pub(crate) mod heap;
pub(crate) mod hostmem;
pub(crate) mod mmu;
