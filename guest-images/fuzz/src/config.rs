//! The fuzzer's settings, from the kernel command line (`/chosen`
//! bootargs): `zxv.fuzz=calls:N,entries:M,seed:S,trace:T`, each part
//! optional, in any order. N and M are decimal with an optional `k`
//! (thousand) or `m` (million) suffix; S and T are decimal or `0x`
//! hexadecimal. With `trace:T` CPU 0 prints every call from its T-th on
//! (to follow a finding's reproduction). Without the word,
//! the CI settings; without a seed, one from the counter (printed, so a
//! run can be repeated).

use core::fmt;

/// What one run does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Service calls other than zx_vcpu_enter.
    pub calls: u64,
    /// zx_vcpu_enter calls (guest entries).
    pub entries: u64,
    /// The seed, if the command line gives one.
    pub seed: Option<u64>,
    /// Print CPU 0's calls from this one on.
    pub trace: Option<u64>,
}

/// The CI run: short enough for the suite under TCG.
pub const CI: Config = Config {
    calls: 100_000,
    entries: 1_000,
    seed: None,
    trace: None,
};

/// A command line the fuzzer cannot use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadConfig<'a> {
    pub part: &'a str,
    pub why: &'static str,
}

impl fmt::Display for BadConfig<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "zxv.fuzz part '{}': {}", self.part, self.why)
    }
}

fn count(text: &str) -> Option<u64> {
    let (digits, scale) = match text.as_bytes().last()? {
        b'k' | b'K' => (&text[..text.len() - 1], 1_000),
        b'm' | b'M' => (&text[..text.len() - 1], 1_000_000),
        _ => (text, 1),
    };
    digits.parse::<u64>().ok()?.checked_mul(scale)
}

fn number(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// The settings `bootargs` asks for.
pub fn parse(bootargs: &str) -> Result<Config, BadConfig<'_>> {
    let mut config = CI;
    let Some(value) = bootargs
        .split_whitespace()
        .find_map(|w| w.strip_prefix("zxv.fuzz="))
    else {
        return Ok(config);
    };
    for part in value.split(',').filter(|p| !p.is_empty()) {
        let bad = |why| BadConfig { part, why };
        let (key, text) = part.split_once(':').ok_or(bad("want key:value"))?;
        match key {
            "calls" => config.calls = count(text).ok_or(bad("not a count (N, Nk or Nm)"))?,
            "entries" => config.entries = count(text).ok_or(bad("not a count (N, Nk or Nm)"))?,
            "seed" => config.seed = Some(number(text).ok_or(bad("not a number"))?),
            "trace" => config.trace = Some(number(text).ok_or(bad("not a number"))?),
            _ => return Err(bad("unknown key (calls, entries, seed, trace)")),
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_the_word_the_ci_run() {
        assert_eq!(parse(""), Ok(CI));
        assert_eq!(parse("console=ttyAMA0 zxv.bench"), Ok(CI));
    }

    #[test]
    fn every_part_and_suffix() {
        let c = parse("x zxv.fuzz=calls:5m,entries:20k,seed:0x2a y").unwrap();
        assert_eq!(
            c,
            Config {
                calls: 5_000_000,
                entries: 20_000,
                seed: Some(42),
                trace: None,
            }
        );
        let c = parse("zxv.fuzz=seed:7").unwrap();
        assert_eq!(
            (c.calls, c.entries, c.seed),
            (CI.calls, CI.entries, Some(7))
        );
        assert_eq!(parse("zxv.fuzz=entries:0").unwrap().entries, 0);
        assert_eq!(parse("zxv.fuzz=trace:100").unwrap().trace, Some(100));
    }

    #[test]
    fn bad_parts_are_named() {
        for (line, part) in [
            ("zxv.fuzz=calls:lots", "calls:lots"),
            ("zxv.fuzz=calls", "calls"),
            ("zxv.fuzz=seed:0xzz", "seed:0xzz"),
            ("zxv.fuzz=speed:3", "speed:3"),
            (
                "zxv.fuzz=calls:99999999999999999999m",
                "calls:99999999999999999999m",
            ),
        ] {
            assert_eq!(parse(line).unwrap_err().part, part, "{line}");
        }
    }
}
