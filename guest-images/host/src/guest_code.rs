//! The guest programs of guest_code.S, as word slices the tests copy to
//! guest PA 0.

core::arch::global_asm!(include_str!("guest_code.S"));

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

snippets!(
    vcpu_enter,
    vcpu_exit_loop,
    vcpu_read_write_state,
    guest_set_trap,
    vcpu_always_exit,
    vcpu_io_loads,
    vcpu_io_one_load,
    mem_trap_stores,
    psci_system_off,
    psci_system_reset,
    psci_cpu_off,
    psci_cpu_on,
    psci_cpu_on_codes,
    psci_version,
    hvc_unknown_function,
    dc_set_way_ops,
    enable_mmu,
    disable_mmu,
    unmapped_access,
    fetch_unmapped,
    exception_loop,
    undefined_sysreg,
    scratch_load,
    trap_load,
    mem_trap_store_pair,
    memory_probe,
    block_reads,
    stale_io_reads,
    bench_hvc,
    bench_bell,
    bench_mem_store,
    bench_mem_load,
    fp_state,
    bench_irq_v2,
    bench_irq_v3,
    bench_irq_quiet_v2,
    bench_irq_quiet_v3,
    bench_timer_v2,
    bench_timer_v3,
    timer_spin_v2,
    timer_spin_v3,
    timer_gic_enable_v2,
    timer_gic_enable_v3,
    ptimer_rounds_v2,
    ptimer_rounds_v3,
    eight_irqs_v2,
    eight_irqs_v3,
    vcpu_interrupt,
    vcpu_wfi_pending_interrupt_v2,
    vcpu_wfi_pending_interrupt_v3,
    irq_ack_eoi_v2,
    irq_ack_eoi_v3,
    vcpu_wfi,
    vcpu_wfe,
    wfi_until_timer,
    timer_wakes_wfi_v2,
    timer_wakes_wfi_v3,
    wfi_loop,
    wfi_irq_loop,
    spin_irq,
    spin_then_complete,
    interrupt_storm_v2,
    interrupt_storm_v3,
    sgi_packet,
    sgi_exchange,
    vcpu_fp,
    vcpu_wfi_aarch32,
    vcpu_fp_aarch32,
    id_registers,
    psci_affinity_info,
    insn_table,
    hw_breakpoint,
    debug_aarch32,
);
