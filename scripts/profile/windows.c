/* A QEMU TCG plugin (system mode) for scripts/profile.sh: counts the
 * instructions executed at each PC while a profile window is open, summed
 * over all windows and all CPUs.
 *
 * A window opens when any CPU executes `hint #126` and closes at the next
 * `hint #127` (both are NOPs for the architecture, so the markers stay in
 * the benchmark code). A close with no window open is ignored, so one
 * marker may close windows of several benchmarks; an open in an open
 * window changes nothing; a window in which nothing ran between its two
 * markers is not counted, so that a benchmark's baseline loop may carry the
 * same markers as its measured loop.
 *
 * Output (out=FILE, default windows.out): "# windows N" (the windows
 * counted; the instructions of a window still open at exit count, the
 * window does not), then one line per PC executed inside a window:
 * "PC OPCODE COUNT" in hex, hex, decimal. PCs are virtual addresses of
 * whatever ran (monitor, host or guest), so each record is keyed by PC and
 * opcode together.
 *
 * The one open/closed flag is shared by the CPUs: this is meant for
 * `-icount`, where QEMU runs all CPUs round-robin on one thread.
 *
 * Debian's QEMU ships no plugin header; the few functions used here are
 * declared below as in QEMU's include/qemu/qemu-plugin.h (plugin API
 * version 4, QEMU 9.2 and later). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS };
typedef void (*insn_cb_t)(unsigned int vcpu, void *userdata);
typedef void (*tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*atexit_cb_t)(qemu_plugin_id_t id, void *userdata);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
size_t qemu_plugin_insn_data(const struct qemu_plugin_insn *insn, void *dest, size_t len);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, insn_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, atexit_cb_t cb, void *userdata);

__attribute__((visibility("default"))) int qemu_plugin_version = 4;

enum { HINT_OPEN = 0xd5032fdf, HINT_CLOSE = 0xd5032fff };

/* One executed instruction: where, what, and how often inside a window.
 * Records live in a chained hash table and are never freed (QEMU exits). */
struct site {
    uint64_t pc;
    uint32_t opcode;
    uint64_t count;
    struct site *next;
};

#define BUCKETS (1u << 18)
static struct site *buckets[BUCKETS];
static bool window_open;
static bool window_counted; /* an instruction ran in the open window */
static uint64_t windows;    /* closed windows that counted something */
static const char *out_path = "windows.out";

static struct site *site_for(uint64_t pc, uint32_t opcode) {
    struct site **head = &buckets[(pc >> 2) % BUCKETS];
    for (struct site *s = *head; s; s = s->next)
        if (s->pc == pc && s->opcode == opcode)
            return s;
    struct site *s = calloc(1, sizeof *s);
    if (!s) {
        fprintf(stderr, "windows plugin: out of memory\n");
        exit(1);
    }
    s->pc = pc;
    s->opcode = opcode;
    s->next = *head;
    *head = s;
    return s;
}

static void on_open(unsigned int vcpu, void *userdata) {
    (void)vcpu, (void)userdata;
    window_open = true;
}

static void on_close(unsigned int vcpu, void *userdata) {
    (void)vcpu, (void)userdata;
    if (window_open && window_counted)
        windows++;
    window_open = window_counted = false;
}

static void on_insn(unsigned int vcpu, void *userdata) {
    (void)vcpu;
    if (window_open) {
        ((struct site *)userdata)->count++;
        window_counted = true;
    }
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    (void)id;
    for (size_t i = 0, n = qemu_plugin_tb_n_insns(tb); i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint32_t opcode = 0;
        qemu_plugin_insn_data(insn, &opcode, sizeof opcode);
        if (opcode == HINT_OPEN)
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_open, QEMU_PLUGIN_CB_NO_REGS, NULL);
        else if (opcode == HINT_CLOSE)
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_close, QEMU_PLUGIN_CB_NO_REGS, NULL);
        else
            qemu_plugin_register_vcpu_insn_exec_cb(insn, on_insn, QEMU_PLUGIN_CB_NO_REGS,
                                                   site_for(qemu_plugin_insn_vaddr(insn), opcode));
    }
}

static void write_counts(qemu_plugin_id_t id, void *userdata) {
    (void)id, (void)userdata;
    FILE *out = fopen(out_path, "w");
    if (!out) {
        perror(out_path);
        return;
    }
    fprintf(out, "# windows %llu\n", (unsigned long long)windows);
    for (size_t b = 0; b < BUCKETS; b++)
        for (struct site *s = buckets[b]; s; s = s->next)
            if (s->count)
                fprintf(out, "%llx %08x %llu\n", (unsigned long long)s->pc, s->opcode,
                        (unsigned long long)s->count);
    fclose(out);
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const void *info,
                                                               int argc, char **argv) {
    (void)info;
    for (int i = 0; i < argc; i++) {
        if (!strncmp(argv[i], "out=", 4)) {
            out_path = argv[i] + 4;
        } else {
            fprintf(stderr, "windows plugin: unknown argument %s (only out=FILE)\n", argv[i]);
            return -1;
        }
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, write_counts, NULL);
    return 0;
}
