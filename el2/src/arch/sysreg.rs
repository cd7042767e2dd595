//! System registers that aarch64-cpu does not provide (the GICv3 CPU
//! interface, the debug and OS-lock registers, the fine-grained trap
//! registers, ...), each a unit struct with `get` and/or `set` as
//! aarch64-cpu's are. On the build machine (not aarch64) they are a fake:
//! each register is a per-thread cell that tests set and read ([`fake`]), so
//! the code around them runs under `cargo test`.

/// `mrs` of register `$name` (its assembler name or S<op0>_<op1>_C<n>_C<m>_<op2>);
/// `$key` names it in the fake.
macro_rules! mrs {
    (ordered $key:expr; $($name:tt)+) => {
        mrs!(@ (nostack, preserves_flags) $key; $($name)+)
    };
    ($key:expr; $($name:tt)+) => {
        mrs!(@ (nomem, nostack, preserves_flags) $key; $($name)+)
    };
    (@ ($($opt:ident),*) $key:expr; $($name:tt)+) => {{
        #[cfg(target_arch = "aarch64")]
        {
            let v: u64;
            // SAFETY: reading a system register changes no memory; callers
            // read only registers this CPU implements (their feature checks
            // say so), and the one read with a side effect on the GIC
            // (ICC_IAR1_EL1) is made where an interrupt is acknowledged.
            unsafe {
                core::arch::asm!(concat!("mrs {}, ", $($name)+), out(reg) v, options($($opt),*))
            };
            v
        }
        #[cfg(not(target_arch = "aarch64"))]
        {
            fake::get($key)
        }
    }};
}

/// `msr` of `$value` to register `$name`.
macro_rules! msr {
    ($key:expr, $value:expr; $($name:tt)+) => {{
        #[cfg(target_arch = "aarch64")]
        {
            // SAFETY: the register is one of EL1's, EL2's controls or the
            // GIC's CPU interface, none of which maps or unmaps memory the
            // monitor uses; callers write only registers this CPU implements.
            unsafe {
                core::arch::asm!(concat!("msr ", $($name)+, ", {}"), in(reg) $value, options(nostack, preserves_flags))
            };
        }
        #[cfg(not(target_arch = "aarch64"))]
        {
            fake::set($key, $value);
        }
    }};
}

/// Declares each register as a unit struct with the accessors listed
/// (`get`, `set`; `get_ordered` is a `get` the compiler keeps in order with
/// memory accesses, as the GIC's CPU interface needs).
macro_rules! registers {
    ($($(#[$doc:meta])* $reg:ident = $name:literal: $($op:ident)+;)*) => {$(
        $(#[$doc])*
        #[allow(non_camel_case_types)]
        pub struct $reg;
        impl $reg {
            $(registers!(@ $op $name);)+
        }
    )*};
    (@ get $name:literal) => {
        #[inline(always)]
        pub fn get(&self) -> u64 {
            mrs!(($name, 0); $name)
        }
    };
    // A read ordered with memory accesses (the GIC's CPU interface).
    (@ get_ordered $name:literal) => {
        #[inline(always)]
        pub fn get(&self) -> u64 {
            mrs!(ordered ($name, 0); $name)
        }
    };
    (@ set $name:literal) => {
        #[inline(always)]
        pub fn set(&self, value: u64) {
            msr!(($name, 0), value; $name)
        }
    };
}

/// Declares numbered registers `prefix<n>suffix` (n = 0..=15) as a unit
/// struct whose `get(n)` / `set(n, value)` pick the register; other n read 0
/// and write nothing.
macro_rules! numbered {
    ($($(#[$doc:meta])* $reg:ident = $prefix:literal, $suffix:literal;)*) => {$(
        $(#[$doc])*
        #[allow(non_camel_case_types)]
        pub struct $reg;
        impl $reg {
            numbered!(@ $prefix, $suffix; 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
        }
    )*};
    (@ $prefix:literal, $suffix:literal; $($i:literal)*) => {
        #[inline(always)]
        pub fn get(&self, n: usize) -> u64 {
            match n {
                $($i => mrs!(($prefix, $i); $prefix, $i, $suffix),)*
                _ => 0,
            }
        }
        #[inline(always)]
        pub fn set(&self, n: usize, value: u64) {
            match n {
                $($i => msr!(($prefix, $i), value; $prefix, $i, $suffix),)*
                _ => {}
            }
        }
    };
}

registers! {
    /// VTTBR_EL2: the current VMID and stage-2 root (also in aarch64-cpu;
    /// here so that TLB maintenance has a fake).
    VTTBR_EL2 = "vttbr_el2": get set;
    /// TPIDR_EL2: this CPU's index (also in aarch64-cpu; here so that the
    /// build machine's tests run on a CPU 0 of their own).
    TPIDR_EL2 = "tpidr_el2": get set;
    /// SCTLR_EL1 (also in aarch64-cpu; here so that host buffers have a
    /// fake, whose host runs with its MMU and caches off).
    SCTLR_EL1 = "sctlr_el1": get;
    /// PAR_EL1: the result of an AT instruction.
    PAR_EL1 = "par_el1": get set;
    /// CTR_EL0: the cache geometry.
    CTR_EL0 = "ctr_el0": get;
    /// GICv3 ICC_PMR_EL1: the priority mask.
    ICC_PMR_EL1 = "s3_0_c4_c6_0": get_ordered set;
    /// GICv3 ICC_IGRPEN1_EL1: group 1 interrupts enabled.
    ICC_IGRPEN1_EL1 = "s3_0_c12_c12_7": get_ordered set;
    /// GICv3 ICC_IAR1_EL1: acknowledges the highest pending interrupt.
    ICC_IAR1_EL1 = "s3_0_c12_c12_0": get_ordered;
    /// GICv3 ICC_HPPIR1_EL1: the highest pending interrupt.
    ICC_HPPIR1_EL1 = "s3_0_c12_c12_2": get_ordered;
    /// GICv3 ICC_CTLR_EL1.
    ICC_CTLR_EL1 = "s3_0_c12_c12_4": get_ordered;
    /// GICv3 ICC_EOIR1_EL1: end of interrupt.
    ICC_EOIR1_EL1 = "s3_0_c12_c12_1": set;
    /// GICv3 ICC_DIR_EL1: deactivation.
    ICC_DIR_EL1 = "s3_0_c12_c11_1": set;
    /// GICv3 ICC_SGI1R_EL1: sends an SGI.
    ICC_SGI1R_EL1 = "s3_0_c12_c11_5": set;
    /// CNTHP_CVAL_EL2: the EL2 physical timer's compare value.
    CNTHP_CVAL_EL2 = "cnthp_cval_el2": set;
    /// AFSR1_EL1 (aarch64-cpu has it read-only).
    AFSR1_EL1 = "afsr1_el1": set;
    /// PMCR_EL0: the PMU's control (its N field: the counters).
    PMCR_EL0 = "pmcr_el0": get;
    /// VPIDR_EL2: the MIDR EL1 reads.
    VPIDR_EL2 = "vpidr_el2": set;
    /// HSTR_EL2: the AArch32 CP15 traps.
    HSTR_EL2 = "hstr_el2": set;
    /// HCRX_EL2 (FEAT_HCX).
    HCRX_EL2 = "S3_4_C1_C2_2": set;
    /// HFGRTR_EL2 (FEAT_FGT).
    HFGRTR_EL2 = "S3_4_C1_C1_4": set;
    /// HFGWTR_EL2 (FEAT_FGT).
    HFGWTR_EL2 = "S3_4_C1_C1_5": set;
    /// HFGITR_EL2 (FEAT_FGT).
    HFGITR_EL2 = "S3_4_C1_C1_6": set;
    /// HDFGRTR_EL2 (FEAT_FGT).
    HDFGRTR_EL2 = "S3_4_C3_C1_4": set;
    /// HDFGWTR_EL2 (FEAT_FGT).
    HDFGWTR_EL2 = "S3_4_C3_C1_5": set;
    /// HAFGRTR_EL2 (FEAT_FGT with AMU).
    HAFGRTR_EL2 = "S3_4_C3_C1_6": set;
    /// HDFGRTR2_EL2 (FEAT_FGT2).
    HDFGRTR2_EL2 = "S3_4_C3_C1_0": set;
    /// HDFGWTR2_EL2 (FEAT_FGT2).
    HDFGWTR2_EL2 = "S3_4_C3_C1_1": set;
    /// HFGRTR2_EL2 (FEAT_FGT2).
    HFGRTR2_EL2 = "S3_4_C3_C1_2": set;
    /// HFGWTR2_EL2 (FEAT_FGT2).
    HFGWTR2_EL2 = "S3_4_C3_C1_3": set;
    /// HFGITR2_EL2 (FEAT_FGT2).
    HFGITR2_EL2 = "S3_4_C3_C1_7": set;
    /// MPAM2_EL2 (FEAT_MPAM).
    MPAM2_EL2 = "S3_4_C10_C5_0": set;
    /// MDCCINT_EL1: the DCC interrupt enables.
    MDCCINT_EL1 = "mdccint_el1": get set;
    /// DBGCLAIMCLR_EL1: reads the claim tags, clears those written.
    DBGCLAIMCLR_EL1 = "dbgclaimclr_el1": get set;
    /// DBGCLAIMSET_EL1: sets the claim tags written.
    DBGCLAIMSET_EL1 = "dbgclaimset_el1": set;
    /// OSECCR_EL1.
    OSECCR_EL1 = "oseccr_el1": get set;
    /// OSLSR_EL1: the OS lock's state.
    OSLSR_EL1 = "oslsr_el1": get;
    /// OSLAR_EL1: sets or clears the OS lock.
    OSLAR_EL1 = "oslar_el1": set;
    /// OSDLR_EL1: the OS double lock.
    OSDLR_EL1 = "osdlr_el1": get set;
}

numbered! {
    /// DBGBVR<n>_EL1: breakpoint values.
    DBGBVR_EL1 = "dbgbvr", "_el1";
    /// DBGBCR<n>_EL1: breakpoint controls.
    DBGBCR_EL1 = "dbgbcr", "_el1";
    /// DBGWVR<n>_EL1: watchpoint values.
    DBGWVR_EL1 = "dbgwvr", "_el1";
    /// DBGWCR<n>_EL1: watchpoint controls.
    DBGWCR_EL1 = "dbgwcr", "_el1";
}

/// The ID registers (Op0 3, Op1 0, CRn 0, CRm 1-7): `get(crm, op2)`, zero
/// outside CRm 1-7.
pub struct IdRegisters;

/// Expands to a match on (CRm, Op2) with one `mrs` per encoding listed.
macro_rules! id_registers {
    ($crm:expr, $op2:expr; $($c:literal => [$($o:literal),*]),* $(,)?) => {
        match ($crm, $op2) {
            $($(
                ($c, $o) => mrs!(("S3_0_C0", $c * 8 + $o); "S3_0_C0_C", $c, "_", $o),
            )*)*
            _ => 0,
        }
    };
}

impl IdRegisters {
    /// ID register (3, 0, 0, `crm`, `op2`); encodings not yet allocated in
    /// this space read as zero.
    pub fn get(&self, crm: u8, op2: u8) -> u64 {
        id_registers!(crm, op2;
            1 => [0, 1, 2, 3, 4, 5, 6, 7],
            2 => [0, 1, 2, 3, 4, 5, 6, 7],
            3 => [0, 1, 2, 3, 4, 5, 6, 7],
            4 => [0, 1, 2, 3, 4, 5, 6, 7],
            5 => [0, 1, 2, 3, 4, 5, 6, 7],
            6 => [0, 1, 2, 3, 4, 5, 6, 7],
            7 => [0, 1, 2, 3, 4, 5, 6, 7],
        )
    }
}

/// The build machine's registers: one value per register (and number) and
/// thread, 0 until set, so each test has its own CPU.
#[cfg(not(target_arch = "aarch64"))]
pub mod fake {
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    /// A register's name (its prefix for numbered ones) and number.
    pub type Key = (&'static str, usize);

    std::thread_local! {
        static REGS: RefCell<BTreeMap<Key, u64>> = const { RefCell::new(BTreeMap::new()) };
    }

    /// The register's value (0 if never set).
    pub fn get(key: Key) -> u64 {
        REGS.with(|r| r.borrow().get(&key).copied().unwrap_or(0))
    }

    /// Sets the register, as the monitor's code or a test does.
    pub fn set(key: Key, value: u64) {
        REGS.with(|r| r.borrow_mut().insert(key, value));
    }
}
