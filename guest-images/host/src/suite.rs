//! The tiny test harness: each test returns Ok or a reason; results are
//! printed as `ok NAME` / `FAIL NAME: reason`, and a test that cannot run on
//! this machine as `skip NAME: reason`.

pub use el1rt::{reason, Reason};
use syscalls::{psci, Status};

pub type TestResult = Result<(), Reason>;

#[derive(Default)]
pub struct Suite {
    pub passed: u32,
    pub failed: u32,
    pub skipped: u32,
}

impl Suite {
    pub fn run(&mut self, name: &str, test: impl FnOnce() -> TestResult) {
        match test() {
            Ok(()) => {
                self.passed += 1;
                crate::println!("ok {name}");
            }
            Err(why) => {
                self.failed += 1;
                crate::println!("FAIL {name}: {why}");
            }
        }
    }

    /// Records a test this machine cannot run (neither passed nor failed).
    pub fn skip(&mut self, name: &str, why: &str) {
        self.skipped += 1;
        crate::println!("skip {name}: {why}");
    }
}

#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            return Err($crate::suite::reason(format_args!($($arg)*)));
        }
    };
}

/// Checks a call's status against the expected one.
pub fn expect(what: &str, got: Result<impl Sized, Status>, want: Status) -> TestResult {
    let got = got.err().unwrap_or(Status::OK);
    if got == want {
        Ok(())
    } else {
        Err(reason(format_args!("{what}: got {got}, want {want}")))
    }
}

/// Stops the machine after a fatal host error: the closing line says so.
pub fn abort() -> ! {
    crate::console::print_unlocked(format_args!("0 passed, 1 failed\n"));
    // SAFETY: SYSTEM_OFF ends the machine.
    unsafe { syscalls::client::psci_call(psci::SYSTEM_OFF, 0, 0, 0) };
    loop {
        core::hint::spin_loop();
    }
}
