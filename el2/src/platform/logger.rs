//! `log` output on the console, each line tagged with the CPU that wrote it.

use log::{Level, LevelFilter, Log, Metadata, Record};

struct Logger;

impl Log for Logger {
    fn enabled(&self, _: &Metadata) -> bool {
        true
    }

    fn log(&self, record: &Record) {
        let level = match record.level() {
            Level::Error => "ERROR ",
            Level::Warn => "WARN ",
            _ => "",
        };
        crate::platform::console::println!(
            "[cpu{}] {}{}",
            crate::platform::percpu::current(),
            level,
            record.args()
        );
    }

    fn flush(&self) {}
}

static LOGGER: Logger = Logger;

pub fn init() {
    // A second call (there is none) would only keep the first logger.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(LevelFilter::Info);
}
