/* A QEMU TCG plugin (system mode) for scripts/bench.sh --virtio: counts the
 * instructions executed by all CPUs, and each time any CPU executes the
 * marker `hint #125` (a NOP for the architecture; zxv-ticks executes it
 * right after reading the counter) appends the count so far to the output.
 *
 * Under `-icount shift=0,sleep=off` the generic counter advances one tick
 * per instruction only while some CPU runs: when every CPU waits for an
 * interrupt the virtual clock jumps to the next timer deadline, which is
 * most of what a guest waiting for its disk reads on the counter. This
 * count has no such jumps: it is instructions executed, every exception
 * level and every CPU.
 *
 * Output (out=FILE, default marks.out): one line "mark N" per marker
 * executed, in execution order, N counting from the start of QEMU up to
 * and including the marker. Each line is written at once, so a run ended
 * by a timeout keeps the marks it reached.
 *
 * Each instruction calls a counting function, so the count is exact even
 * where an exception ends a translation block early. The one counter is
 * shared by the CPUs: this is meant for `-icount`, where QEMU runs all CPUs
 * round-robin on one thread. (QEMU's inline per-CPU counters would be
 * cheaper, but QEMU 10.0.2 aborts with them under -icount on 2 CPUs, in
 * arm_mmu_idx_el; the calls cost about a third more run time.)
 *
 * Debian's QEMU ships no plugin header; the few functions and types used
 * here are declared below as in QEMU's include/qemu/qemu-plugin.h (plugin
 * API version 4, QEMU 9.2 and later). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS };
typedef void (*insn_cb_t)(unsigned int vcpu, void *userdata);
typedef void (*tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
size_t qemu_plugin_insn_data(const struct qemu_plugin_insn *insn, void *dest, size_t len);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, insn_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);

__attribute__((visibility("default"))) int qemu_plugin_version = 4;

enum { HINT_MARK = 0xd5032fbf };

static uint64_t executed;
static FILE *out;

static void on_insn(unsigned int vcpu, void *userdata)
{
    (void)vcpu;
    (void)userdata;
    executed++;
}

static void on_mark(unsigned int vcpu, void *userdata)
{
    (void)vcpu;
    (void)userdata;
    fprintf(out, "mark %llu\n", (unsigned long long)executed);
    fflush(out);
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint32_t opcode = 0;
        qemu_plugin_insn_data(insn, &opcode, sizeof opcode);
        qemu_plugin_register_vcpu_insn_exec_cb(insn, on_insn, QEMU_PLUGIN_CB_NO_REGS, NULL);
        if (opcode == HINT_MARK)
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, QEMU_PLUGIN_CB_NO_REGS, NULL);
    }
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const void *info, int argc,
                                                               char **argv)
{
    (void)info;
    const char *name = "marks.out";
    for (int i = 0; i < argc; i++) {
        if (!strncmp(argv[i], "out=", 4))
            name = argv[i] + 4;
    }
    out = fopen(name, "w");
    if (!out) {
        perror(name);
        return -1;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    return 0;
}
