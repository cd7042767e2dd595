//! The VMM's configuration, read from the host's command line (`/chosen`
//! `bootargs`): `vmm.*` options, then `--` and the guest's command line;
//! or several guests, each in a group of its own.
//!
//! One guest (named by `vmm.name`):
//!
//! ```text
//! vmm.kernel=ADDR,SIZE [vmm.initrd=ADDR,SIZE] [vmm.mem=256M] [vmm.cpus=1]
//! [vmm.psci=hvc|smc] [vmm.name=linux] [vmm.timeout=SECONDS]
//! [vmm.console=tagged|raw] [vmm.disk=ADDR,SIZE[,ro]|host[,ro]]
//! [vmm.net=host|switch] -- GUEST COMMAND LINE
//! ```
//!
//! Several guests: each `vmm.guest=NAME` word starts a guest's group.
//!
//! ```text
//! [DEFAULTS] [vmm.timeout=SECONDS] vmm.guest=NAME [OPTIONS] [-- GUEST COMMAND LINE]
//! vmm.guest=NAME2 [OPTIONS] [-- GUEST COMMAND LINE] ...
//! ```
//!
//! The options before the first `vmm.guest=` are every guest's defaults
//! (a shared `vmm.kernel` and `vmm.initrd`, say) and the machine's
//! `vmm.timeout`; a group's options, up to its `--`, are that guest's; every
//! word after its `--` up to the next `vmm.guest=` word is its command line
//! (which may hold `--` words of its own, not a `vmm.guest=` word). Refused:
//! `vmm.name` (a guest is named by its group) and `--` with groups, except
//! in a group; `vmm.timeout` in a group; two guests of one name; more than
//! [`MAX_GUESTS`] guests or [`MAX_MACHINE_CPUS`] vCPUs in all; the
//! machine's own device (`vmm.net=host`, `vmm.disk=host`) for two guests;
//! RAM disks of two guests that overlap. Kernels and initrds may be shared.
//!
//! ADDR and SIZE are decimal or `0x` hexadecimal, SIZE and `vmm.mem` may end
//! in K, M or G. Words that do not start with `vmm.` belong to someone else
//! and are left alone.

use crate::guest_console::Mode;
use crate::{err, Error};
use arrayvec::ArrayVec;

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

/// Where the guest's virtio network device leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetKind {
    /// The machine's own virtio-net device (`vmm.net=host`; QEMU `-device
    /// virtio-net-device`), driven by the VMM: for one guest at most.
    Host,
    /// The VMM's virtual switch, shared by the guests (`vmm.net=switch`).
    Switch,
}

/// One guest's configuration.
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
    /// The guest's console output: line by line behind its name, or raw.
    pub console: Mode,
    /// The guest's virtio disk, if it has one.
    pub disk: Option<Disk>,
    /// The guest's virtio network device, if it has one, and where it leads.
    pub net: Option<NetKind>,
    /// The guest's `/chosen` `bootargs`.
    pub cmdline: &'a str,
}

/// The guests the VMM runs (in command-line order), and what is the whole
/// machine's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Machine<'a> {
    /// One guest at least, at most [`MAX_GUESTS`].
    pub guests: ArrayVec<Config<'a>, MAX_GUESTS>,
    /// Give up on guests still running after this many seconds.
    pub timeout_s: Option<u64>,
}

pub const DEFAULT_MEM: u64 = 256 << 20;
/// The guest's name without `vmm.name`.
pub const DEFAULT_NAME: &str = "linux";
/// The most vCPUs a guest may have (the monitor's limit per guest).
pub const MAX_CPUS: usize = syscalls::hypervisor::MAX_VCPUS_PER_GUEST;
/// The most guests one VMM runs.
pub const MAX_GUESTS: usize = 4;
/// The most vCPUs of all guests together.
pub const MAX_MACHINE_CPUS: usize = 16;
const MAX_NAME: usize = 16;
/// The word that starts a guest's group.
const GUEST: &str = "vmm.guest=";

impl<'a> Machine<'a> {
    pub fn parse(bootargs: &'a str) -> Result<Self, Error> {
        let mut machine = Machine {
            guests: ArrayVec::new(),
            timeout_s: None,
        };
        let starts: ArrayVec<usize, { MAX_GUESTS + 1 }> = words_at(bootargs)
            .filter(|(_, word)| word.starts_with(GUEST))
            .map(|(at, _)| at)
            .take(MAX_GUESTS + 1)
            .collect();
        let Some(&first) = starts.first() else {
            let (options, cmdline) = split_cmdline(bootargs);
            let mut draft = Draft::new();
            for word in options.split_whitespace() {
                machine.timeout_s = draft.apply(word, Scope::Alone)?.or(machine.timeout_s);
            }
            machine.guests.push(draft.finish(cmdline)?);
            return Ok(machine);
        };
        if let Some(&at) = starts.get(MAX_GUESTS) {
            let word = bootargs[at..].split_whitespace().next().unwrap_or_default();
            return Err(err!("`{word}`: a VMM runs at most {MAX_GUESTS} guests"));
        }
        let mut defaults = Draft::new();
        for word in bootargs[..first].split_whitespace() {
            if word == "--" {
                return Err(err!(
                    "`--` before the first vmm.guest=: with several guests, a guest's \
                     command line follows `--` in its vmm.guest= group"
                ));
            }
            machine.timeout_s = defaults.apply(word, Scope::Defaults)?.or(machine.timeout_s);
        }
        let ends = starts[1..].iter().copied().chain([bootargs.len()]);
        for (start, end) in starts.iter().copied().zip(ends) {
            let guest = machine.group(&bootargs[start..end], defaults)?;
            machine.guests.push(guest);
        }
        machine.check_shared()?;
        Ok(machine)
    }

    /// One `vmm.guest=NAME ...` group (up to the next one), on top of the
    /// defaults.
    fn group(&self, group: &'a str, defaults: Draft<'a>) -> Result<Config<'a>, Error> {
        let (word, rest) = group.split_once(char::is_whitespace).unwrap_or((group, ""));
        let guest_name = name(word, &word[GUEST.len()..])?;
        if self.guests.iter().any(|g| g.name == guest_name) {
            return Err(err!("`{word}`: two guests are named {guest_name}"));
        }
        let (options, cmdline) = split_cmdline(rest);
        let mut draft = defaults;
        draft.guest.name = guest_name;
        let in_guest = |e: Error| err!("guest {guest_name}: {e}");
        for word in options.split_whitespace() {
            // Nothing of the machine's: vmm.timeout is refused in a group.
            draft.apply(word, Scope::Group).map_err(in_guest)?;
        }
        if draft.kernel.is_none() {
            return Err(err!(
                "guest {guest_name}: no vmm.kernel=ADDR,SIZE in its group or before the first \
                 vmm.guest=: nothing to boot"
            ));
        }
        let guest = draft.finish(cmdline).map_err(in_guest)?;
        let cpus: usize = self.guests.iter().map(|g| g.cpus).sum::<usize>() + guest.cpus;
        if cpus > MAX_MACHINE_CPUS {
            return Err(err!(
                "guest {guest_name}: {cpus} vCPUs in all: the guests together have at most \
                 {MAX_MACHINE_CPUS}"
            ));
        }
        Ok(guest)
    }

    /// What two guests must not share: the machine's own devices, and RAM
    /// disks.
    fn check_shared(&self) -> Result<(), Error> {
        for (i, a) in self.guests.iter().enumerate() {
            for b in &self.guests[i + 1..] {
                let (x, y) = (a.name, b.name);
                if a.net == Some(NetKind::Host) && b.net == Some(NetKind::Host) {
                    return Err(err!(
                        "guests {x} and {y} both have vmm.net=host: the machine's virtio-net \
                         device is one guest's (vmm.net=switch joins the guests' switch)"
                    ));
                }
                match (a.disk.map(|d| d.source), b.disk.map(|d| d.source)) {
                    (Some(DiskSource::Host), Some(DiskSource::Host)) => {
                        return Err(err!(
                            "guests {x} and {y} both have vmm.disk=host: the machine's \
                             virtio-blk device is one guest's"
                        ))
                    }
                    (Some(DiskSource::Ram(d)), Some(DiskSource::Ram(e)))
                        if d.addr < e.end() && e.addr < d.end() =>
                    {
                        return Err(err!(
                            "the RAM disks of guests {x} ({:#x}..{:#x}) and {y} ({:#x}..{:#x}) \
                             overlap: each guest's disk is its own",
                            d.addr,
                            d.end(),
                            e.addr,
                            e.end()
                        ))
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

/// Where an option stands: on a single guest's command line, among the
/// defaults before the first group, or in a group.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    Alone,
    Defaults,
    Group,
}

/// A guest's options as far as they are read: `guest` with its kernel
/// still to come.
#[derive(Clone, Copy)]
struct Draft<'a> {
    guest: Config<'a>,
    kernel: Option<Blob>,
}

impl<'a> Draft<'a> {
    fn new() -> Self {
        let guest = Config {
            name: DEFAULT_NAME,
            kernel: Blob { addr: 0, size: 0 },
            initrd: None,
            mem: DEFAULT_MEM,
            cpus: 1,
            psci: Conduit::Hvc,
            console: Mode::Tagged,
            disk: None,
            net: None,
            cmdline: "",
        };
        Draft {
            guest,
            kernel: None,
        }
    }

    /// Takes one word of the options; what it says of the machine (its
    /// `vmm.timeout`) is returned.
    fn apply(&mut self, word: &'a str, scope: Scope) -> Result<Option<u64>, Error> {
        let Some(option) = word.strip_prefix("vmm.") else {
            return Ok(None);
        };
        let guest = &mut self.guest;
        let (key, value) = option
            .split_once('=')
            .ok_or_else(|| err!("`{word}`: expected vmm.KEY=VALUE"))?;
        match (key, scope) {
            ("kernel", _) => self.kernel = Some(blob(word, value)?),
            ("initrd", _) => guest.initrd = Some(blob(word, value)?),
            ("mem", _) => guest.mem = size(word, value)?,
            ("cpus", _) => guest.cpus = number(word, value)? as usize,
            ("psci", _) => guest.psci = conduit(word, value)?,
            ("name", Scope::Alone) => guest.name = name(word, value)?,
            ("name", _) => {
                return Err(err!(
                    "`{word}`: with several guests, each is named by its vmm.guest=NAME"
                ))
            }
            ("timeout", Scope::Alone | Scope::Defaults) => return Ok(Some(number(word, value)?)),
            ("timeout", Scope::Group) => {
                return Err(err!(
                    "`{word}`: vmm.timeout is the whole machine's: give it before the first \
                     vmm.guest="
                ))
            }
            ("console", _) => guest.console = console(word, value)?,
            ("disk", _) => guest.disk = Some(disk(word, value)?),
            ("net", _) => guest.net = Some(net(word, value)?),
            _ => return Err(err!("`{word}`: unknown option vmm.{key}")),
        }
        Ok(None)
    }

    fn finish(self, cmdline: &'a str) -> Result<Config<'a>, Error> {
        let kernel = self
            .kernel
            .ok_or_else(|| err!("no vmm.kernel=ADDR,SIZE on the command line: nothing to boot"))?;
        let Config { cpus, mem, .. } = self.guest;
        if cpus == 0 || cpus > MAX_CPUS {
            return Err(err!("vmm.cpus={cpus}: a guest has 1 to {MAX_CPUS} vCPUs"));
        }
        if mem == 0 || !mem.is_multiple_of(2 << 20) {
            return Err(err!(
                "vmm.mem={mem:#x}: guest RAM must be a non-zero multiple of 2 MiB"
            ));
        }
        Ok(Config {
            kernel,
            cmdline,
            ..self.guest
        })
    }
}

/// The guest's name as the command line gives it (the last valid
/// `vmm.name`, else [`DEFAULT_NAME`]; with groups, the first guest's
/// `vmm.guest=` name if valid): what the reports call the guest, also when
/// [`Machine::parse`] refuses the command line.
pub fn name_in(bootargs: &str) -> &str {
    let valid = |word, value| name(word, value).ok();
    if let Some(word) = bootargs.split_whitespace().find(|w| w.starts_with(GUEST)) {
        return valid(word, &word[GUEST.len()..]).unwrap_or(DEFAULT_NAME);
    }
    split_cmdline(bootargs)
        .0
        .split_whitespace()
        .rev()
        .find_map(|word| valid(word, word.strip_prefix("vmm.name=")?))
        .unwrap_or(DEFAULT_NAME)
}

/// The options before a `--` word, and what follows it (trimmed).
fn split_cmdline(bootargs: &str) -> (&str, &str) {
    match words_at(bootargs).find(|(_, word)| *word == "--") {
        Some((at, _)) => (&bootargs[..at], bootargs[at + 2..].trim()),
        None => (bootargs, ""),
    }
}

/// The words of `text`, each with its offset in `text`.
fn words_at(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let base = text.as_ptr() as usize;
    text.split_whitespace()
        .map(move |word| (word.as_ptr() as usize - base, word))
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

fn net(word: &str, value: &str) -> Result<NetKind, Error> {
    match value {
        "host" => Ok(NetKind::Host),
        "switch" => Ok(NetKind::Switch),
        _ => Err(err!(
            "`{word}`: the network is `host` (the machine's own virtio-net device) or `switch` \
             (the guests' virtual switch)"
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

    /// The one guest of a single-guest command line.
    fn one(bootargs: &str) -> Result<Config<'_>, Error> {
        let machine = Machine::parse(bootargs)?;
        assert_eq!(machine.guests.len(), 1, "{bootargs}");
        Ok(machine.guests[0])
    }

    #[test]
    fn full_command_line() {
        let m = Machine::parse(
            "zxv.other vmm.kernel=0x50000000,0x1f6e000 vmm.initrd=0x52000000,123456 \
             vmm.mem=512M vmm.cpus=2 vmm.psci=smc vmm.name=deb vmm.timeout=60 vmm.console=raw \
             --  console=ttyAMA0  quiet -- x ",
        )
        .unwrap();
        assert_eq!(m.timeout_s, Some(60));
        let c = m.guests[0];
        assert_eq!(m.guests.len(), 1);
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
        assert_eq!(c.console, Mode::Raw);
        assert_eq!(c.cmdline, "console=ttyAMA0  quiet -- x");
    }

    #[test]
    fn defaults() {
        let m = Machine::parse("vmm.kernel=0x50000000,4K").unwrap();
        assert_eq!(m.timeout_s, None);
        let c = m.guests[0];
        assert_eq!(c.kernel.size, 4096);
        assert_eq!(
            (c.initrd, c.mem, c.cpus, c.psci),
            (None, DEFAULT_MEM, 1, Conduit::Hvc)
        );
        assert_eq!((c.name, c.cmdline), ("linux", ""));
        assert_eq!(c.console, Mode::Tagged);
        assert_eq!(c.disk, None);
        assert_eq!(c.net, None);
        let tagged = one("vmm.console=tagged vmm.kernel=0x50000000,4K").unwrap();
        assert_eq!(tagged.console, Mode::Tagged);
    }

    #[test]
    fn vmm_words_after_the_separator_are_the_guests() {
        let c = one("vmm.kernel=4096,8 -- vmm.mem=1").unwrap();
        assert_eq!((c.mem, c.cmdline), (DEFAULT_MEM, "vmm.mem=1"));
        assert_eq!(one("vmm.kernel=4096,8 --").unwrap().cmdline, "");
        assert_eq!(one("vmm.kernel=4096,8 a--b").unwrap().cmdline, "");
    }

    #[test]
    fn disks() {
        let disk =
            |arg: &str| one(&format!("vmm.kernel=4096,8 vmm.disk={arg}")).map(|c| c.disk.unwrap());
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
        let net = |arg| one(arg).map(|c| c.net);
        assert_eq!(
            net("vmm.kernel=4096,8 vmm.net=host"),
            Ok(Some(NetKind::Host))
        );
        assert_eq!(
            net("vmm.kernel=4096,8 vmm.net=switch"),
            Ok(Some(NetKind::Switch))
        );
        let e = net("vmm.kernel=4096,8 vmm.net=user").unwrap_err();
        assert!(e.contains("or `switch`"), "{e}");
        assert!(e.contains("the network is `host`"), "{e}");
    }

    fn error(bootargs: &str) -> String {
        Machine::parse(bootargs).unwrap_err().to_string()
    }

    #[test]
    fn the_name_is_known_even_when_the_command_line_is_refused() {
        assert_eq!(name_in("vmm.kernel=0,1"), "linux");
        assert_eq!(name_in("vmm.cpus=9 vmm.name=deb"), "deb");
        assert_eq!(name_in("vmm.name=a vmm.name=b -- vmm.name=c"), "b");
        assert_eq!(name_in("vmm.name=bad/name vmm.mem=1"), "linux");
        assert_eq!(name_in("vmm.name=ok vmm.name="), "ok");
        let bootargs = "vmm.kernel=0,1 vmm.name=deb vmm.cpus=2 -- quiet";
        assert_eq!(name_in(bootargs), one(bootargs).unwrap().name);
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

    #[test]
    fn groups_take_the_defaults_and_their_own_options() {
        let m = Machine::parse(
            "zxv.other vmm.kernel=0x50000000,32M vmm.initrd=0x52000000,1M vmm.mem=128M \
             vmm.timeout=90 vmm.net=switch \
             vmm.guest=a vmm.cpus=2 vmm.disk=0x60000000,1M -- console=ttyAMA0 quiet \
             vmm.guest=b vmm.mem=64M vmm.console=raw vmm.disk=0x60100000,1M,ro vmm.net=host",
        )
        .unwrap();
        assert_eq!(m.timeout_s, Some(90));
        let [a, b] = m.guests.as_slice() else {
            panic!("{m:?}")
        };
        assert_eq!((a.name, b.name), ("a", "b"));
        assert_eq!(a.kernel, b.kernel);
        assert_eq!(a.kernel.size, 32 << 20);
        assert_eq!(a.initrd, b.initrd);
        assert_eq!((a.mem, b.mem), (128 << 20, 64 << 20));
        assert_eq!((a.cpus, b.cpus), (2, 1));
        assert_eq!((a.console, b.console), (Mode::Tagged, Mode::Raw));
        assert_eq!((a.net, b.net), (Some(NetKind::Switch), Some(NetKind::Host)));
        assert_eq!(a.disk.map(|d| d.read_only), Some(false));
        assert_eq!(b.disk.map(|d| d.read_only), Some(true));
        assert_eq!((a.cmdline, b.cmdline), ("console=ttyAMA0 quiet", ""));
    }

    #[test]
    fn a_group_s_command_line_runs_to_the_next_group() {
        let m = Machine::parse(
            "vmm.kernel=4096,8 vmm.guest=a -- init=/x -- vmm.mem=1 -- \
             vmm.guest=b\t--\tx vmm.guestx=1 vmm.guest vmm.guest=c -- ",
        )
        .unwrap();
        let cmdlines: Vec<_> = m.guests.iter().map(|g| (g.name, g.cmdline)).collect();
        assert_eq!(
            cmdlines,
            [
                ("a", "init=/x -- vmm.mem=1 --"),
                ("b", "x vmm.guestx=1 vmm.guest"),
                ("c", "")
            ]
        );
        assert!(m.guests.iter().all(|g| g.mem == DEFAULT_MEM));
    }

    #[test]
    fn kernels_may_be_shared_and_given_per_guest() {
        let m = Machine::parse(
            "vmm.guest=a vmm.kernel=0x50000000,4K vmm.guest=b vmm.kernel=0x50000000,4K \
             vmm.guest=c vmm.kernel=0x51000000,4K vmm.initrd=0x52000000,4K",
        )
        .unwrap();
        let kernels: Vec<_> = m.guests.iter().map(|g| (g.kernel.addr, g.initrd)).collect();
        assert_eq!(
            kernels,
            [
                (0x5000_0000, None),
                (0x5000_0000, None),
                (
                    0x5100_0000,
                    Some(Blob {
                        addr: 0x5200_0000,
                        size: 4096
                    })
                )
            ]
        );
        assert_eq!(m.timeout_s, None);
    }

    #[test]
    fn the_limits_on_guests_and_vcpus() {
        let guests = |n: usize, cpus: usize| {
            let groups: String = (0..n).map(|i| format!(" vmm.guest=g{i}")).collect();
            Machine::parse(&format!("vmm.kernel=0,4K vmm.cpus={cpus}{groups}"))
                .map(|m| m.guests.len())
        };
        assert_eq!(guests(MAX_GUESTS, 4), Ok(MAX_GUESTS));
        let e = guests(MAX_GUESTS + 1, 1).unwrap_err();
        assert_eq!(e.as_str(), "`vmm.guest=g4`: a VMM runs at most 4 guests");
        let e = guests(3, 6).unwrap_err();
        assert!(e.starts_with("guest g2: 18 vCPUs in all"), "{e}");
        assert!(e.contains("at most 16"), "{e}");
        let e = guests(2, 9).unwrap_err();
        assert!(
            e.starts_with("guest g0: vmm.cpus=9: a guest has 1 to 8"),
            "{e}"
        );
    }

    #[test]
    fn the_machine_s_devices_are_one_guest_s() {
        let two = |a: &str, b: &str| {
            Machine::parse(&format!("vmm.kernel=0,4K vmm.guest=a {a} vmm.guest=b {b}")).map(|_| ())
        };
        let e = two("vmm.net=host", "vmm.net=host").unwrap_err();
        assert!(
            e.starts_with("guests a and b both have vmm.net=host"),
            "{e}"
        );
        let e = Machine::parse("vmm.kernel=0,4K vmm.net=host vmm.guest=a vmm.guest=b").unwrap_err();
        assert!(
            e.starts_with("guests a and b both have vmm.net=host"),
            "{e}"
        );
        assert!(two("vmm.net=host", "vmm.net=switch").is_ok());
        assert!(two("vmm.net=switch", "vmm.net=switch").is_ok());
        let e = two("vmm.disk=host", "vmm.disk=host,ro").unwrap_err();
        assert!(
            e.starts_with("guests a and b both have vmm.disk=host"),
            "{e}"
        );
        assert!(two("vmm.disk=host", "vmm.disk=0x60000000,1M").is_ok());
    }

    #[test]
    fn ram_disks_of_two_guests_do_not_overlap() {
        let disks = |a: &str, b: &str, c: &str| {
            Machine::parse(&format!(
                "vmm.kernel=0,4K vmm.guest=a vmm.disk={a} vmm.guest=b vmm.disk={b} \
                 vmm.guest=c vmm.disk={c}"
            ))
            .map(|_| ())
        };
        assert!(disks("0x60000000,1M", "0x60100000,1M", "0x60200000,1M").is_ok());
        let e = disks("0x60000000,1M", "0x60100000,1M", "0x600ff000,4K,ro").unwrap_err();
        assert_eq!(
            e.as_str(),
            "the RAM disks of guests a (0x60000000..0x60100000) and c (0x600ff000..0x60100000) \
             overlap: each guest's disk is its own"
        );
        let e = disks("0x60000000,4M", "0x60100000,1M", "0x70000000,1M").unwrap_err();
        assert!(e.contains("guests a (0x60000000..0x60400000) and b"), "{e}");
        let e = Machine::parse("vmm.kernel=0,4K vmm.disk=0x60000000,1M vmm.guest=a vmm.guest=b")
            .unwrap_err();
        assert!(e.contains("RAM disks of guests a"), "{e}");
    }

    #[test]
    fn says_what_is_wrong_with_groups() {
        let k = "vmm.kernel=0,4K";
        for (bootargs, message) in [
            (
                format!("{k} vmm.guest=a vmm.guest=a"),
                "`vmm.guest=a`: two guests are named a",
            ),
            (
                format!("{k} vmm.guest=a vmm.guest=b/c"),
                "`vmm.guest=b/c`: a name is 1 to 16 letters, digits, - or _",
            ),
            (
                format!("{k} vmm.guest="),
                "`vmm.guest=`: a name is 1 to 16 letters, digits, - or _",
            ),
            (
                format!("{k} vmm.guest=a vmm.name=x"),
                "guest a: `vmm.name=x`: with several guests, each is named by its vmm.guest=NAME",
            ),
            (
                format!("{k} vmm.name=x vmm.guest=a"),
                "`vmm.name=x`: with several guests, each is named by its vmm.guest=NAME",
            ),
            (
                format!("{k} vmm.guest=a vmm.timeout=5"),
                "guest a: `vmm.timeout=5`: vmm.timeout is the whole machine's: give it before \
                 the first vmm.guest=",
            ),
            (
                format!("{k} -- quiet vmm.guest=a"),
                "`--` before the first vmm.guest=: with several guests, a guest's command line \
                 follows `--` in its vmm.guest= group",
            ),
            (
                "vmm.guest=a vmm.kernel=0,4K vmm.guest=b -- vmm.kernel=0,4K".into(),
                "guest b: no vmm.kernel=ADDR,SIZE in its group or before the first \
                 vmm.guest=: nothing to boot",
            ),
            (
                format!("{k} vmm.guest=a vmm.colour=red"),
                "guest a: `vmm.colour=red`: unknown option vmm.colour",
            ),
            (
                format!("{k} vmm.guest=a vmm.mem=3M"),
                "guest a: vmm.mem=0x300000: guest RAM must be a non-zero multiple of 2 MiB",
            ),
            (
                format!("{k} vmm.guest=a vmm.net=user"),
                "guest a: `vmm.net=user`: the network is `host` (the machine's own virtio-net \
                 device) or `switch` (the guests' virtual switch)",
            ),
            (
                "vmm.kernel=0 vmm.guest=a".into(),
                "`vmm.kernel=0`: expected ADDR,SIZE",
            ),
        ] {
            assert_eq!(error(&bootargs), message, "{bootargs}");
        }
    }

    #[test]
    fn a_single_guest_s_command_line_holds_no_group() {
        let e = error("vmm.kernel=0,4K -- console=ttyAMA0 vmm.guest=a");
        assert!(e.starts_with("`--` before the first vmm.guest="), "{e}");
        let c = one("vmm.kernel=0,4K -- vmm.guestx=a vmm.guest").unwrap();
        assert_eq!(c.cmdline, "vmm.guestx=a vmm.guest");
    }

    #[test]
    fn the_first_guest_s_name_with_groups() {
        assert_eq!(name_in("vmm.kernel=0,1 vmm.guest=web vmm.guest=db"), "web");
        assert_eq!(name_in("vmm.name=x vmm.guest=web"), "web");
        assert_eq!(name_in("vmm.cpus=99 vmm.guest=a.b vmm.guest=db"), "linux");
        let bootargs = "vmm.kernel=0,1 vmm.guest=web -- vmm.name=x vmm.guest=db";
        assert_eq!(
            name_in(bootargs),
            Machine::parse(bootargs).unwrap().guests[0].name
        );
    }
}
