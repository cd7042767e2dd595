//! The VMM's configuration, read from the host's command line (`/chosen`
//! `bootargs`): `vmm.*` options, then `--` and the guest's command line.
//!
//! ```text
//! vmm.kernel=ADDR,SIZE [vmm.initrd=ADDR,SIZE] [vmm.mem=256M] [vmm.cpus=1]
//! [vmm.psci=hvc|smc] [vmm.name=linux] [vmm.timeout=SECONDS]
//! [vmm.console=tagged|raw] [vmm.disk=ADDR,SIZE[,ro]|host[,ro]] [vmm.net=host]
//! -- GUEST COMMAND LINE
//! ```
//!
//! ADDR and SIZE are decimal or `0x` hexadecimal, SIZE and `vmm.mem` may end
//! in K, M or G. Words that do not start with `vmm.` belong to someone else
//! and are left alone.

use crate::guest_console::Mode;
use crate::{err, Error};

/// Host memory QEMU (`-device loader`) or a boot loader filled with a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blob {
    pub addr: u64,
    pub size: u64,
}

impl Blob {
    pub fn end(&self) -> u64 {
        self.addr + self.size
    }
}

/// What backs the guest's virtio disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskSource {
    /// A disk image QEMU or the boot loader put in host RAM (volatile).
    Ram(Blob),
    /// The machine's own virtio-blk device (QEMU `-device virtio-blk-device`), driven by the
    /// VMM: what the guest writes reaches the file behind it.
    Host,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Disk {
    pub source: DiskSource,
    pub read_only: bool,
}

/// How the guest calls PSCI (the DTB's `/psci` `method`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conduit {
    Hvc,
    Smc,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config<'a> {
    /// Prefixes the guest's console lines and the VMM's reports.
    pub name: &'a str,
    pub kernel: Blob,
    pub initrd: Option<Blob>,
    /// Bytes of guest RAM.
    pub mem: u64,
    pub cpus: usize,
    pub psci: Conduit,
    /// Give up on a guest still running after this many seconds.
    pub timeout_s: Option<u64>,
    /// The guest's console output: line by line behind its name, or raw.
    pub console: Mode,
    /// The guest's virtio disk, if it has one.
    pub disk: Option<Disk>,
    /// The guest has a virtio network device, switched to the machine's own virtio-net
    /// device (`vmm.net=host`; QEMU `-device virtio-net-device`).
    pub net: bool,
    /// The guest's `/chosen` `bootargs`.
    pub cmdline: &'a str,
}

pub const DEFAULT_MEM: u64 = 256 << 20;
/// The guest's name without `vmm.name`.
pub const DEFAULT_NAME: &str = "linux";
/// The most vCPUs a guest may have (the monitor's limit per guest).
pub const MAX_CPUS: usize = syscalls::hypervisor::MAX_VCPUS_PER_GUEST;
const MAX_NAME: usize = 16;

impl<'a> Config<'a> {
    pub fn parse(bootargs: &'a str) -> Result<Self, Error> {
        let (options, cmdline) = split_cmdline(bootargs);
        let mut kernel = None;
        let mut config = Config {
            name: DEFAULT_NAME,
            kernel: Blob { addr: 0, size: 0 },
            initrd: None,
            mem: DEFAULT_MEM,
            cpus: 1,
            psci: Conduit::Hvc,
            timeout_s: None,
            console: Mode::Tagged,
            disk: None,
            net: false,
            cmdline,
        };
        for word in options.split_whitespace() {
            let Some(option) = word.strip_prefix("vmm.") else {
                continue;
            };
            let (key, value) = option
                .split_once('=')
                .ok_or_else(|| err!("`{word}`: expected vmm.KEY=VALUE"))?;
            match key {
                "kernel" => kernel = Some(blob(word, value)?),
                "initrd" => config.initrd = Some(blob(word, value)?),
                "mem" => config.mem = size(word, value)?,
                "cpus" => config.cpus = number(word, value)? as usize,
                "psci" => config.psci = conduit(word, value)?,
                "name" => config.name = name(word, value)?,
                "timeout" => config.timeout_s = Some(number(word, value)?),
                "console" => config.console = console(word, value)?,
                "disk" => config.disk = Some(disk(word, value)?),
                "net" => config.net = net(word, value)?,
                _ => return Err(err!("`{word}`: unknown option vmm.{key}")),
            }
        }
        config.kernel = kernel
            .ok_or_else(|| err!("no vmm.kernel=ADDR,SIZE on the command line: nothing to boot"))?;
        if config.cpus == 0 || config.cpus > MAX_CPUS {
            return Err(err!(
                "vmm.cpus={}: a guest has 1 to {MAX_CPUS} vCPUs",
                config.cpus
            ));
        }
        if config.mem == 0 || !config.mem.is_multiple_of(2 << 20) {
            return Err(err!(
                "vmm.mem={:#x}: guest RAM must be a non-zero multiple of 2 MiB",
                config.mem
            ));
        }
        Ok(config)
    }
}

/// What the VMM runs: its guests (one, for now) and the machine-wide watchdog.
pub struct Machine<'a> {
    pub guests: arrayvec::ArrayVec<Config<'a>, MAX_GUESTS>,
    pub timeout_s: Option<u64>,
}

/// The most guests one VMM runs.
pub const MAX_GUESTS: usize = 4;

impl<'a> Machine<'a> {
    pub fn parse(bootargs: &'a str) -> Result<Self, Error> {
        let config = Config::parse(bootargs)?;
        let mut guests = arrayvec::ArrayVec::new();
        guests.push(config);
        Ok(Machine {
            guests,
            timeout_s: config.timeout_s,
        })
    }
}

/// The guest's name as the command line gives it (the last valid
/// `vmm.name`, else [`DEFAULT_NAME`]): what the reports call the guest,
/// also when [`Config::parse`] refuses the command line.
pub fn name_in(bootargs: &str) -> &str {
    split_cmdline(bootargs)
        .0
        .split_whitespace()
        .rev()
        .filter_map(|word| Some((word, word.strip_prefix("vmm.name=")?)))
        .find(|(word, value)| name(word, value).is_ok())
        .map_or(DEFAULT_NAME, |(_, value)| value)
}

/// The options before a `--` word, and what follows it (trimmed).
fn split_cmdline(bootargs: &str) -> (&str, &str) {
    let mut rest = bootargs;
    while let Some(start) = rest.find(|c: char| !c.is_whitespace()) {
        let word_start = &rest[start..];
        let len = word_start
            .find(char::is_whitespace)
            .unwrap_or(word_start.len());
        if &word_start[..len] == "--" {
            let options_len = bootargs.len() - word_start.len();
            return (&bootargs[..options_len], word_start[len..].trim());
        }
        rest = &word_start[len..];
    }
    (bootargs, "")
}

fn number(word: &str, text: &str) -> Result<u64, Error> {
    let parsed = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    parsed.map_err(|_| err!("`{word}`: `{text}` is not a number"))
}

fn size(word: &str, text: &str) -> Result<u64, Error> {
    let (digits, shift) = match text.as_bytes().last() {
        Some(b'K' | b'k') => (&text[..text.len() - 1], 10),
        Some(b'M' | b'm') => (&text[..text.len() - 1], 20),
        Some(b'G' | b'g') => (&text[..text.len() - 1], 30),
        _ => (text, 0),
    };
    let n = number(word, digits)?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| err!("`{word}`: {text} is too large"))
}

fn blob(word: &str, value: &str) -> Result<Blob, Error> {
    let (addr, len) = value
        .split_once(',')
        .ok_or_else(|| err!("`{word}`: expected ADDR,SIZE"))?;
    let blob = Blob {
        addr: number(word, addr)?,
        size: size(word, len)?,
    };
    if blob.size == 0 || blob.addr.checked_add(blob.size).is_none() {
        return Err(err!("`{word}`: empty or wrapping range"));
    }
    if !blob.addr.is_multiple_of(4096) {
        return Err(err!("`{word}`: the address must be page (4 KiB) aligned"));
    }
    Ok(blob)
}

fn disk(word: &str, value: &str) -> Result<Disk, Error> {
    let (value, read_only) = match value.strip_suffix(",ro") {
        Some(rest) => (rest, true),
        None => (value, false),
    };
    let source = match value {
        "host" => DiskSource::Host,
        _ => {
            let b = blob(word, value)?;
            if !b.size.is_multiple_of(512) {
                return Err(err!("`{word}`: a disk image is whole 512-byte sectors"));
            }
            DiskSource::Ram(b)
        }
    };
    Ok(Disk { source, read_only })
}

fn net(word: &str, value: &str) -> Result<bool, Error> {
    match value {
        "host" => Ok(true),
        _ => Err(err!(
            "`{word}`: the network is `host` (the machine's own virtio-net device)"
        )),
    }
}

fn conduit(word: &str, value: &str) -> Result<Conduit, Error> {
    match value {
        "hvc" => Ok(Conduit::Hvc),
        "smc" => Ok(Conduit::Smc),
        _ => Err(err!("`{word}`: PSCI is called with hvc or smc")),
    }
}

fn console(word: &str, value: &str) -> Result<Mode, Error> {
    match value {
        "tagged" => Ok(Mode::Tagged),
        "raw" => Ok(Mode::Raw),
        _ => Err(err!("`{word}`: the console is tagged or raw")),
    }
}

fn name<'a>(word: &str, value: &'a str) -> Result<&'a str, Error> {
    let ok = !value.is_empty()
        && value.len() <= MAX_NAME
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(value)
    } else {
        Err(err!(
            "`{word}`: a name is 1 to {MAX_NAME} letters, digits, - or _"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_command_line() {
        let c = Config::parse(
            "zxv.other vmm.kernel=0x50000000,0x1f6e000 vmm.initrd=0x52000000,123456 \
             vmm.mem=512M vmm.cpus=2 vmm.psci=smc vmm.name=deb vmm.timeout=60 vmm.console=raw \
             --  console=ttyAMA0  quiet -- x ",
        )
        .unwrap();
        assert_eq!(
            c.kernel,
            Blob {
                addr: 0x5000_0000,
                size: 0x1f6_e000
            }
        );
        assert_eq!(
            c.initrd,
            Some(Blob {
                addr: 0x5200_0000,
                size: 123_456
            })
        );
        assert_eq!(c.mem, 512 << 20);
        assert_eq!(c.cpus, 2);
        assert_eq!(c.psci, Conduit::Smc);
        assert_eq!(c.name, "deb");
        assert_eq!(c.timeout_s, Some(60));
        assert_eq!(c.console, Mode::Raw);
        assert_eq!(c.cmdline, "console=ttyAMA0  quiet -- x");
    }

    #[test]
    fn defaults() {
        let c = Config::parse("vmm.kernel=0x50000000,4K").unwrap();
        assert_eq!(c.kernel.size, 4096);
        assert_eq!(
            (c.initrd, c.mem, c.cpus, c.psci),
            (None, DEFAULT_MEM, 1, Conduit::Hvc)
        );
        assert_eq!((c.name, c.timeout_s, c.cmdline), ("linux", None, ""));
        assert_eq!(c.console, Mode::Tagged);
        assert_eq!(c.disk, None);
        assert!(!c.net);
        let tagged = Config::parse("vmm.console=tagged vmm.kernel=0x50000000,4K").unwrap();
        assert_eq!(tagged.console, Mode::Tagged);
    }

    #[test]
    fn vmm_words_after_the_separator_are_the_guests() {
        let c = Config::parse("vmm.kernel=4096,8 -- vmm.mem=1").unwrap();
        assert_eq!((c.mem, c.cmdline), (DEFAULT_MEM, "vmm.mem=1"));
        assert_eq!(Config::parse("vmm.kernel=4096,8 --").unwrap().cmdline, "");
        assert_eq!(Config::parse("vmm.kernel=4096,8 a--b").unwrap().cmdline, "");
    }

    #[test]
    fn disks() {
        let disk = |arg: &str| {
            Config::parse(&format!("vmm.kernel=4096,8 vmm.disk={arg}")).map(|c| c.disk.unwrap())
        };
        let ram = Blob {
            addr: 0x6000_0000,
            size: 1 << 20,
        };
        assert_eq!(
            disk("0x60000000,1M").unwrap(),
            Disk {
                source: DiskSource::Ram(ram),
                read_only: false
            }
        );
        assert_eq!(
            disk("0x60000000,1M,ro").unwrap(),
            Disk {
                source: DiskSource::Ram(ram),
                read_only: true
            }
        );
        assert_eq!(
            disk("host").unwrap(),
            Disk {
                source: DiskSource::Host,
                read_only: false
            }
        );
        assert_eq!(
            disk("host,ro").unwrap(),
            Disk {
                source: DiskSource::Host,
                read_only: true
            }
        );
        assert!(disk("0x60000000,1000")
            .unwrap_err()
            .contains("512-byte sectors"));
        assert!(disk("guest").unwrap_err().contains("ADDR,SIZE"));
    }

    #[test]
    fn network() {
        assert!(Config::parse("vmm.kernel=4096,8 vmm.net=host").unwrap().net);
        let e = Config::parse("vmm.kernel=4096,8 vmm.net=user").unwrap_err();
        assert!(e.contains("the network is `host`"), "{e}");
    }

    fn error(bootargs: &str) -> String {
        Config::parse(bootargs).unwrap_err().to_string()
    }

    #[test]
    fn the_name_is_known_even_when_the_command_line_is_refused() {
        assert_eq!(name_in("vmm.kernel=0,1"), "linux");
        assert_eq!(name_in("vmm.cpus=9 vmm.name=deb"), "deb");
        assert_eq!(name_in("vmm.name=a vmm.name=b -- vmm.name=c"), "b");
        assert_eq!(name_in("vmm.name=bad/name vmm.mem=1"), "linux");
        assert_eq!(name_in("vmm.name=ok vmm.name="), "ok");
        let bootargs = "vmm.kernel=0,1 vmm.name=deb vmm.cpus=2 -- quiet";
        assert_eq!(name_in(bootargs), Config::parse(bootargs).unwrap().name);
    }

    #[test]
    fn says_what_is_wrong() {
        assert!(error("").contains("no vmm.kernel"));
        assert!(error("vmm.kernel=0x50000000").contains("ADDR,SIZE"));
        assert!(error("vmm.kernel=zz,1").contains("`zz` is not a number"));
        assert!(error("vmm.kernel=0x1008,1").contains("page (4 KiB) aligned"));
        assert!(error("vmm.kernel=0,0").contains("empty"));
        assert!(error("vmm.kernel=0,1 vmm.cpus=9").contains("1 to 8"));
        assert!(error("vmm.kernel=0,1 vmm.cpus=0").contains("1 to 8"));
        assert!(error("vmm.kernel=0,1 vmm.mem=3M").contains("multiple of 2 MiB"));
        assert!(error("vmm.kernel=0,1 vmm.mem=99999999999G").contains("too large"));
        assert!(error("vmm.kernel=0,1 vmm.psci=svc").contains("hvc or smc"));
        assert!(error("vmm.kernel=0,1 vmm.name=a.b").contains("a name is"));
        assert!(error("vmm.kernel=0,1 vmm.console=RAW").contains("tagged or raw"));
        assert!(error("vmm.kernel=0,1 vmm.console=").contains("tagged or raw"));
        assert!(error("vmm.kernel=0,1 vmm.colour=red").contains("unknown option vmm.colour"));
        assert!(error("vmm.kernel=0,1 vmm.mem").contains("vmm.KEY=VALUE"));
    }
}
