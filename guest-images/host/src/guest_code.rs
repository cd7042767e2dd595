//! The guest programs, as word slices the tests copy to guest PA 0: the
//! shared ones in guest_code.S, each test module's own in the `.S` file
//! beside it. build.rs assembles them all and declares one function per
//! `snippet NAME` line (`guest_code::NAME()`, through `snippets!`).

/// One snippet: the A64 words between its `_start` and `_end` labels.
#[derive(Clone, Copy)]
pub struct Code {
    start: *const u32,
    words: usize,
}

impl Code {
    /// Number of 32-bit words.
    pub fn word_count(&self) -> usize {
        self.words
    }

    /// The word at index `i` (< `word_count()`).
    pub fn word(&self, i: usize) -> u32 {
        assert!(i < self.words, "guest code index {i} out of range");
        // SAFETY: `start` and `words` delimit a snippet in the host's .text
        // (see `snippets!`), 4-byte aligned and never written; `i` is in range.
        unsafe { self.start.add(i).read_volatile() }
    }
}

macro_rules! snippets {
    ($($name:ident),* $(,)?) => {
        $(
            pub fn $name() -> Code {
                extern "C" {
                    #[link_name = concat!(stringify!($name), "_start")]
                    static START: [u32; 0];
                    #[link_name = concat!(stringify!($name), "_end")]
                    static END: [u32; 0];
                }
                let start = core::ptr::addr_of!(START).cast::<u32>();
                let end = core::ptr::addr_of!(END).cast::<u32>();
                Code {
                    start,
                    words: (end as usize - start as usize) / 4,
                }
            }
        )*
    };
}

include!(concat!(env!("OUT_DIR"), "/guest_code.rs"));
