//! What the guest does, from its command line (the DTB's `/chosen/bootargs`, the words after
//! `--` on the VMM's): nothing, the virtio cases; `ldp`, one LDP from device space; `scan`
//! or `scan-self-test`, the isolation scan (`scan.rs`), and with the word `key` after it
//! only once a key comes in on the console; `victim`, RAM filled with canaries for another
//! guest's scan to look for (`victim.rs`).

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Cases,
    Ldp,
    Scan { self_test: bool, key: bool },
    Victim,
}

/// The mode `bootargs` asks for, or the first word that is none.
pub fn parse(bootargs: Option<&str>) -> Result<Mode, &str> {
    let mut words = bootargs.unwrap_or("").split_ascii_whitespace();
    let mode = match words.next() {
        None => return Ok(Mode::Cases),
        Some("ldp") => Mode::Ldp,
        Some("victim") => Mode::Victim,
        Some(scan @ ("scan" | "scan-self-test")) => {
            let self_test = scan == "scan-self-test";
            match words.next() {
                None => Mode::Scan {
                    self_test,
                    key: false,
                },
                Some("key") => Mode::Scan {
                    self_test,
                    key: true,
                },
                Some(other) => return Err(other),
            }
        }
        Some(other) => return Err(other),
    };
    match words.next() {
        None => Ok(mode),
        Some(other) => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mode() {
        assert_eq!(parse(None), Ok(Mode::Cases));
        assert_eq!(parse(Some("")), Ok(Mode::Cases));
        assert_eq!(parse(Some("ldp")), Ok(Mode::Ldp));
        assert_eq!(parse(Some("victim")), Ok(Mode::Victim));
        let scan = |self_test, key| Ok(Mode::Scan { self_test, key });
        assert_eq!(parse(Some("scan")), scan(false, false));
        assert_eq!(parse(Some(" scan  key ")), scan(false, true));
        assert_eq!(parse(Some("scan-self-test")), scan(true, false));
        assert_eq!(parse(Some("scan-self-test key")), scan(true, true));
    }

    #[test]
    fn other_words_are_refused() {
        assert_eq!(parse(Some("scna")), Err("scna"));
        assert_eq!(parse(Some("scan keys")), Err("keys"));
        assert_eq!(parse(Some("victim key")), Err("key"));
        assert_eq!(parse(Some("scan key again")), Err("again"));
        assert_eq!(parse(Some("ldp ldp")), Err("ldp"));
    }
}
