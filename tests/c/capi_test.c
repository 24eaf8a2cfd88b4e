/* Tests of the C API (include/txjournal/c.h), written in C11.
 *
 *   capi_test            runs every test
 *   capi_test NAME...    runs the named tests (meson registers one each)
 *
 * Each test works in a new directory under $TMPDIR (or /tmp) and removes it
 * when it passes. A failure prints what failed and exits with status 1.
 */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "capi_check.h"
#include "txjournal/c.h"

const char* capi_current_test = "(none)";

/* ---- helpers ---- */

static char g_dir[4096];

static void make_dir(void) {
  const char* tmp = getenv("TMPDIR");
  snprintf(g_dir, sizeof g_dir, "%s/txj-capi-XXXXXX", tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
  CHECK(mkdtemp(g_dir) != NULL);
}

static int rm_entry(const char* path, const struct stat* sb, int flag, struct FTW* ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static void remove_dir(void) { nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* A journal path inside the test directory. */
static const char* jpath(const char* name) {
  static char buf[4200];
  snprintf(buf, sizeof buf, "%s/%s", g_dir, name);
  return buf;
}

/* Options for quick tests: small segments, no sync per commit. */
static txj_options_t* quick_options(void) {
  char* err = NULL;
  txj_options_t* o = NULL;
  CHECK_OK(txj_options_create(&o, &err));
  CHECK_OK(txj_options_set_segment_size(o, 1u << 20, &err));
  CHECK_OK(txj_options_set_durability(o, TXJ_DURABILITY_NONE, &err));
  CHECK(err == NULL);
  return o;
}

static txj_journal_t* open_quick(const char* name) {
  char* err = NULL;
  txj_options_t* o = quick_options();
  txj_journal_t* j = NULL;
  CHECK_OK(txj_open(jpath(name), o, &j, &err));
  txj_options_destroy(o);
  return j;
}

static txj_journal_t* open_read_only(const char* name) {
  char* err = NULL;
  txj_options_t* o = quick_options();
  txj_journal_t* j = NULL;
  CHECK_OK(txj_options_set_read_only(o, 1, &err));
  CHECK_OK(txj_open(jpath(name), o, &j, &err));
  txj_options_destroy(o);
  return j;
}

/* Commits one top-level transaction holding `n` events of `topic`. */
static txj_commit_info_t commit_events(txj_journal_t* j, const char* topic, int n) {
  char* err = NULL;
  txj_txn_t* t = NULL;
  txj_commit_info_t info;
  CHECK_OK(txj_begin(j, &t, &err));
  for (int i = 0; i < n; ++i) {
    char payload[32];
    int len = snprintf(payload, sizeof payload, "%s-%d", topic, i);
    CHECK_OK(txj_txn_append(t, topic, "t", payload, (size_t)len, &err));
  }
  CHECK_OK(txj_txn_commit(t, &info, &err));
  return info;
}

/* Reads every event from `offset` into the arrays (payload copies). */
#define MAX_READ 256
typedef struct {
  size_t n;
  uint64_t offset[MAX_READ];
  uint64_t txn_id[MAX_READ];
  char payload[MAX_READ][64];
  char topic[MAX_READ][32];
} read_t;

static void read_all(txj_journal_t* j, uint64_t offset, read_t* r) {
  char* err = NULL;
  txj_cursor_t* c = NULL;
  txj_event_t ev;
  int found = 0;
  memset(r, 0, sizeof *r);
  CHECK_OK(txj_cursor_open(j, offset, NULL, 0, NULL, 0, &c, &err));
  for (;;) {
    CHECK_OK(txj_cursor_next(c, &ev, &found, &err));
    if (!found) break;
    CHECK(r->n < MAX_READ);
    CHECK(ev.payload_len < 64 && ev.topic_len < 32);
    r->offset[r->n] = ev.offset;
    r->txn_id[r->n] = ev.txn_id;
    memcpy(r->payload[r->n], ev.payload, ev.payload_len);
    memcpy(r->topic[r->n], ev.topic, ev.topic_len);
    r->n++;
  }
  CHECK_OK(txj_cursor_destroy(c));
}

/* ---- tests ---- */

/* Codes match status.h, names are stable, the version is reported. */
static void test_codes_and_version(void) {
  CHECK(TXJ_OK == 0 && TXJ_INVALID_ARGUMENT == 1 && TXJ_INVALID_STATE == 2 && TXJ_NOT_FOUND == 3);
  CHECK(TXJ_CORRUPTION == 4 && TXJ_TRUNCATED == 5 && TXJ_CLOSED == 6 && TXJ_BUSY == 7);
  CHECK(TXJ_TIMED_OUT == 8 && TXJ_CANCELLED == 9 && TXJ_IO_ERROR == 10 && TXJ_NO_SPACE == 11);
  CHECK(TXJ_NOT_SUPPORTED == 12 && TXJ_FAILED == 13);
  CHECK(strcmp(txj_code_name(TXJ_OK), "ok") == 0);
  CHECK(strcmp(txj_code_name(TXJ_CORRUPTION), "corruption") == 0);
  CHECK(strcmp(txj_code_name(TXJ_TIMED_OUT), "timed out") == 0);
  CHECK(strcmp(txj_code_name(TXJ_FAILED), "failed") == 0);
  CHECK(strcmp(txj_code_name(-1), "unknown") == 0);
  CHECK(strcmp(txj_code_name(14), "unknown") == 0);
  int major = -1, minor = -1, patch = -1;
  uint32_t format = 0;
  CHECK(txj_version(&major, &minor, &patch, &format) == TXJ_OK);
  CHECK(major >= 0 && minor >= 0 && patch >= 0 && format >= 1);
  CHECK(txj_version(NULL, NULL, NULL, NULL) == TXJ_OK);
  txj_free(NULL);
}

/* The errptr protocol: a message on failure, the earlier one freed and
 * cleared by the next call, NULL errptr accepted. */
static void test_error_messages(void) {
  char* err = NULL;
  CHECK_RC(TXJ_INVALID_ARGUMENT, txj_options_create(NULL, &err));
  CHECK_ERR_HAS("invalid argument");
  CHECK_ERR_HAS("txj_options_create");
  CHECK_ERR_HAS("out");
  /* The next call frees the message and clears err (ASan/LSan would see a leak otherwise). */
  txj_options_t* o = NULL;
  CHECK_OK(txj_options_create(&o, &err));
  CHECK(err == NULL);
  CHECK_RC(TXJ_INVALID_ARGUMENT, txj_options_set_durability(o, 7, &err));
  CHECK_ERR_HAS("durability");
  CHECK_RC(TXJ_INVALID_ARGUMENT, txj_options_set_durability(o, -1, &err));
  CHECK_ERR_HAS("durability");
  /* Discarded messages. */
  CHECK(txj_options_set_durability(o, 99, NULL) == TXJ_INVALID_ARGUMENT);
  CHECK(txj_open(NULL, NULL, NULL, NULL) == TXJ_INVALID_ARGUMENT);
  txj_free(err);
  err = NULL;
  txj_options_destroy(o);
  CHECK(txj_options_destroy(NULL) == TXJ_OK);
}

/* Every call given a NULL handle or out-pointer answers
 * TXJ_INVALID_ARGUMENT with a message naming the call, and never crashes. */
static void test_null_arguments(void) {
  char* err = NULL;
  txj_journal_t* j = open_quick("j");
  txj_txn_t* t = NULL;
  txj_cursor_t* c = NULL;
  txj_event_t ev;
  int found;
  uint64_t u64;
  const char* s;
  txj_recovery_info_t ri;
  txj_recovery_repair_t rr;
  txj_stats_t st;
  txj_topic_info_t* topics;
  size_t n;
  txj_state_info_t si;
  const void* p;
  size_t len;
  char* text;

#define NULLARG(call, fname)                \
  do {                                      \
    CHECK_RC(TXJ_INVALID_ARGUMENT, call);   \
    CHECK_ERR_HAS(fname);                   \
    CHECK_ERR_HAS("NULL");                  \
  } while (0)

  NULLARG(txj_options_set_create_if_missing(NULL, 1, &err), "txj_options_set_create_if_missing");
  NULLARG(txj_options_set_error_if_exists(NULL, 1, &err), "txj_options_set_error_if_exists");
  NULLARG(txj_options_set_read_only(NULL, 1, &err), "txj_options_set_read_only");
  NULLARG(txj_options_set_segment_size(NULL, 1, &err), "txj_options_set_segment_size");
  NULLARG(txj_options_set_durability(NULL, 1, &err), "txj_options_set_durability");
  NULLARG(txj_options_set_pad_commits_to_page(NULL, 1, &err), "txj_options_set_pad_commits_to_page");
  NULLARG(txj_options_set_recycled_segments(NULL, 1, &err), "txj_options_set_recycled_segments");
  NULLARG(txj_options_set_huge_pages(NULL, 1, &err), "txj_options_set_huge_pages");
  NULLARG(txj_options_set_sync_interval_ms(NULL, 1, &err), "txj_options_set_sync_interval_ms");
  NULLARG(txj_options_set_poll_interval_ms(NULL, 1, &err), "txj_options_set_poll_interval_ms");
  NULLARG(txj_options_set_file_mode(NULL, 0600, &err), "txj_options_set_file_mode");
  NULLARG(txj_options_set_rebuild_catalog(NULL, 1, &err), "txj_options_set_rebuild_catalog");
  NULLARG(txj_options_add_schema_topic(NULL, "a", NULL, 0, &err), "txj_options_add_schema_topic");
  {
    txj_journal_t* j_none = j;
    NULLARG(txj_open(NULL, NULL, &j_none, &err), "txj_open");
    CHECK(j_none == NULL); /* *out is cleared on failure */
  }
  NULLARG(txj_open(jpath("other"), NULL, NULL, &err), "txj_open");
  NULLARG(txj_close(NULL, &err), "txj_close");
  NULLARG(txj_sync(NULL, &err), "txj_sync");
  NULLARG(txj_recovery(NULL, &ri, &err), "txj_recovery");
  NULLARG(txj_recovery(j, NULL, &err), "txj_recovery");
  NULLARG(txj_recovery_repair(NULL, 0, &rr, &err), "txj_recovery_repair");
  NULLARG(txj_recovery_repair(j, 0, NULL, &err), "txj_recovery_repair");
  NULLARG(txj_recovery_note(NULL, 0, &s, &err), "txj_recovery_note");
  NULLARG(txj_recovery_note(j, 0, NULL, &err), "txj_recovery_note");
  NULLARG(txj_recovery_string(NULL, &text, &err), "txj_recovery_string");
  NULLARG(txj_recovery_string(j, NULL, &err), "txj_recovery_string");
  NULLARG(txj_stats(NULL, &st, &err), "txj_stats");
  NULLARG(txj_stats(j, NULL, &err), "txj_stats");
  NULLARG(txj_topics(NULL, &topics, &n, &err), "txj_topics");
  NULLARG(txj_topics(j, NULL, &n, &err), "txj_topics");
  NULLARG(txj_topics(j, &topics, NULL, &err), "txj_topics");
  NULLARG(txj_begin(NULL, &t, &err), "txj_begin");
  NULLARG(txj_begin(j, NULL, &err), "txj_begin");
  NULLARG(txj_try_begin(NULL, &t, &err), "txj_try_begin");
  NULLARG(txj_try_begin(j, NULL, &err), "txj_try_begin");
  NULLARG(txj_begin_timeout(NULL, 1, &t, &err), "txj_begin_timeout");
  NULLARG(txj_begin_timeout(j, 1, NULL, &err), "txj_begin_timeout");
  NULLARG(txj_txn_begin(NULL, &t, &err), "txj_txn_begin");
  NULLARG(txj_txn_append(NULL, "a", "t", "x", 1, &err), "txj_txn_append");
  NULLARG(txj_txn_append_ex(NULL, "a", "t", NULL, 0, "x", 1, 0, &err), "txj_txn_append");
  NULLARG(txj_txn_commit(NULL, NULL, &err), "txj_txn_commit");
  NULLARG(txj_txn_rollback(NULL, &err), "txj_txn_rollback");
  NULLARG(txj_txn_info(NULL, NULL, NULL, NULL, NULL, &err), "txj_txn_info");
  NULLARG(txj_cursor_open(NULL, 0, NULL, 0, NULL, 0, &c, &err), "txj_cursor_open");
  NULLARG(txj_cursor_open(j, 0, NULL, 0, NULL, 0, NULL, &err), "txj_cursor_open");
  NULLARG(txj_cursor_open(j, 0, NULL, 2, NULL, 0, &c, &err), "txj_cursor_open");
  NULLARG(txj_cursor_open(j, 0, NULL, 0, NULL, 1, &c, &err), "txj_cursor_open");
  NULLARG(txj_cursor_next(NULL, &ev, &found, &err), "txj_cursor_next");
  NULLARG(txj_cursor_wait(NULL, 0, &ev, &err), "txj_cursor_wait");
  NULLARG(txj_cursor_position(NULL, &u64, &err), "txj_cursor_position");
  NULLARG(txj_cursor_close(NULL, &err), "txj_cursor_close");
  CHECK(txj_cursor_destroy(NULL) == TXJ_OK);
  NULLARG(txj_register_latest_by_key(NULL, "a", NULL, 0, 0, &err), "txj_register_latest_by_key");
  NULLARG(txj_register_latest_by_key(j, NULL, NULL, 0, 0, &err), "txj_register_latest_by_key");
  NULLARG(txj_compact(NULL, "a", NULL, &err), "txj_compact");
  NULLARG(txj_compact(j, NULL, NULL, &err), "txj_compact");
  NULLARG(txj_apply_retention(NULL, 0, &err), "txj_apply_retention");
  NULLARG(txj_rebuild(NULL, "a", NULL, &err), "txj_rebuild");
  NULLARG(txj_rebuild(j, NULL, NULL, &err), "txj_rebuild");
  NULLARG(txj_rebuild(j, "a", NULL, &err), "txj_rebuild");
  NULLARG(txj_state_info(NULL, &si, &err), "txj_state_info");
  NULLARG(txj_state_get(NULL, "k", 1, &p, &len, &found, &err), "txj_state_get");
  NULLARG(txj_state_entry(NULL, 0, &p, &len, &p, &len, &err), "txj_state_entry");
  NULLARG(txj_state_encoded(NULL, &p, &len, &err), "txj_state_encoded");
  CHECK(txj_state_destroy(NULL) == TXJ_OK);
  NULLARG(txj_offset_load(NULL, "c", &u64, &err), "txj_offset_load");
  NULLARG(txj_offset_load(j, NULL, &u64, &err), "txj_offset_load");
  NULLARG(txj_offset_load(j, "c", NULL, &err), "txj_offset_load");
  NULLARG(txj_offset_save(NULL, "c", 1, &err), "txj_offset_save");
  NULLARG(txj_offset_save(j, NULL, 1, &err), "txj_offset_save");

  /* Calls that need a live transaction or cursor. */
  CHECK_OK(txj_begin(j, &t, &err));
  NULLARG(txj_txn_begin(t, NULL, &err), "txj_txn_begin");
  NULLARG(txj_txn_append(t, NULL, "t", "x", 1, &err), "txj_txn_append");
  NULLARG(txj_txn_append(t, "a", NULL, "x", 1, &err), "txj_txn_append");
  CHECK_RC(TXJ_INVALID_ARGUMENT, txj_txn_append(t, "a", "t", NULL, 3, &err));
  CHECK_ERR_HAS("payload");
  CHECK_RC(TXJ_INVALID_ARGUMENT, txj_txn_append_ex(t, "a", "t", NULL, 2, "x", 1, 0, &err));
  CHECK_ERR_HAS("key");
  CHECK_OK(txj_txn_append(t, "a", "t", NULL, 0, &err)); /* an empty payload may be NULL */
  CHECK_OK(txj_txn_rollback(t, &err));
  CHECK_OK(txj_cursor_open(j, 0, NULL, 0, NULL, 0, &c, &err));
  NULLARG(txj_cursor_next(c, NULL, &found, &err), "txj_cursor_next");
  NULLARG(txj_cursor_next(c, &ev, NULL, &err), "txj_cursor_next");
  NULLARG(txj_cursor_wait(c, 0, NULL, &err), "txj_cursor_wait");
  NULLARG(txj_cursor_position(c, NULL, &err), "txj_cursor_position");
  {
    const char* list[] = {"a", NULL};
    txj_cursor_t* c2 = c;
    CHECK_RC(TXJ_INVALID_ARGUMENT, txj_cursor_open(j, 0, list, 2, NULL, 0, &c2, &err));
    CHECK_ERR_HAS("entry 1 of topics");
    CHECK(c2 == NULL);
  }
  CHECK_OK(txj_cursor_destroy(c));
#undef NULLARG
  CHECK_OK(txj_close(j, &err));
  CHECK(err == NULL);
}

/* Options reach the journal; values that mean nothing are refused naming
 * the option; create-if-missing, error-if-exists, read-only, busy. */
static void test_open_options(void) {
  char* err = NULL;
  txj_options_t* o = NULL;
  txj_journal_t* j = NULL;
  txj_journal_t* j2 = NULL;

  /* Missing and not create_if_missing. */
  CHECK_OK(txj_options_create(&o, &err));
  CHECK_OK(txj_options_set_create_if_missing(o, 0, &err));
  CHECK_RC(TXJ_NOT_FOUND, txj_open(jpath("j"), o, &j, &err));
  CHECK(j == NULL);
  txj_options_destroy(o);

  /* Meaningless values are refused at open, naming the option. */
#define CHECK_OPTION_REFUSED(setter, value, name)                     \
  do {                                                                \
    o = quick_options();                                              \
    CHECK_OK(setter(o, value, &err));                                 \
    CHECK_RC(TXJ_INVALID_ARGUMENT, txj_open(jpath("j"), o, &j, &err)); \
    CHECK_ERR_HAS(name);                                              \
    txj_options_destroy(o);                                           \
  } while (0)
  CHECK_OPTION_REFUSED(txj_options_set_sync_interval_ms, 0, "sync_interval");
  CHECK_OPTION_REFUSED(txj_options_set_poll_interval_ms, -5, "poll_interval");
  CHECK_OPTION_REFUSED(txj_options_set_file_mode, 0400, "file_mode");
  CHECK_OPTION_REFUSED(txj_options_set_segment_size, 5000, "segment");
#undef CHECK_OPTION_REFUSED

  /* Every setter accepted; the journal opens with them. */
  CHECK_OK(txj_options_create(&o, &err));
  CHECK_OK(txj_options_set_create_if_missing(o, 1, &err));
  CHECK_OK(txj_options_set_error_if_exists(o, 1, &err));
  CHECK_OK(txj_options_set_segment_size(o, 256 * 1024, &err));
  CHECK_OK(txj_options_set_durability(o, TXJ_DURABILITY_PERIODIC, &err));
  CHECK_OK(txj_options_set_sync_interval_ms(o, 50, &err));
  CHECK_OK(txj_options_set_poll_interval_ms(o, 2, &err));
  CHECK_OK(txj_options_set_pad_commits_to_page(o, 0, &err));
  CHECK_OK(txj_options_set_recycled_segments(o, 1, &err));
  CHECK_OK(txj_options_set_huge_pages(o, 0, &err));
  CHECK_OK(txj_options_set_file_mode(o, 0640, &err));
  CHECK_OK(txj_options_set_rebuild_catalog(o, 0, &err));
  CHECK_OK(txj_open(jpath("j"), o, &j, &err));
  txj_stats_t st;
  CHECK_OK(txj_stats(j, &st, &err));
  CHECK(st.durability == TXJ_DURABILITY_PERIODIC);
  CHECK(st.segment_size == 256 * 1024);
  CHECK(st.read_only == 0);
  CHECK(strlen(st.identity) == 32);
  CHECK(strspn(st.identity, "0123456789abcdef") == 32);
  commit_events(j, "a", 2);

  /* A second writable open in this process is busy. */
  txj_options_t* plain = quick_options();
  CHECK_RC(TXJ_BUSY, txj_open(jpath("j"), plain, &j2, &err));
  CHECK(j2 == NULL);
  CHECK_OK(txj_sync(j, &err));
  CHECK_OK(txj_close(j, &err));

  /* error_if_exists on an existing journal. */
  CHECK_RC(TXJ_INVALID_ARGUMENT, txj_open(jpath("j"), o, &j, &err));
  txj_options_destroy(o);

  /* Read-only: opens, reads, refuses to write. */
  j = open_read_only("j");
  CHECK_OK(txj_stats(j, &st, &err));
  CHECK(st.read_only == 1);
  CHECK(st.next_offset == 2);
  txj_txn_t* t = NULL;
  CHECK_RC(TXJ_INVALID_STATE, txj_begin(j, &t, &err));
  CHECK_ERR_HAS("read-only");
  CHECK(t == NULL);
  CHECK_RC(TXJ_INVALID_STATE, txj_try_begin(j, &t, &err));
  CHECK_RC(TXJ_INVALID_STATE, txj_sync(j, &err));
  CHECK_RC(TXJ_INVALID_STATE, txj_offset_save(j, "c", 1, &err));
  CHECK_RC(TXJ_INVALID_STATE, txj_apply_retention(j, 1, &err));
  read_t r;
  read_all(j, 0, &r);
  CHECK(r.n == 2);
  /* A writer may open while a reader has it open. */
  CHECK_OK(txj_open(jpath("j"), plain, &j2, &err));
  CHECK_OK(txj_close(j2, &err));
  CHECK_OK(txj_close(j, &err));

  /* The schema: other topics and types are refused. */
  o = quick_options();
  {
    const char* types[] = {"created", "deleted"};
    CHECK_OK(txj_options_add_schema_topic(o, "orders", types, 2, &err));
    CHECK_OK(txj_options_add_schema_topic(o, "any", NULL, 0, &err));
    CHECK_RC(TXJ_INVALID_ARGUMENT, txj_options_add_schema_topic(o, "x", NULL, 1, &err));
    const char* bad[] = {NULL};
    CHECK_RC(TXJ_INVALID_ARGUMENT, txj_options_add_schema_topic(o, "x", bad, 1, &err));
  }
  CHECK_OK(txj_open(jpath("schema"), o, &j, &err));
  CHECK_OK(txj_begin(j, &t, &err));
  CHECK_OK(txj_txn_append(t, "orders", "created", "1", 1, &err));
  CHECK_OK(txj_txn_append(t, "any", "whatever", "1", 1, &err));
  CHECK_RC(TXJ_INVALID_ARGUMENT, txj_txn_append(t, "orders", "shipped", "1", 1, &err));
  CHECK_RC(TXJ_INVALID_ARGUMENT, txj_txn_append(t, "stock", "created", "1", 1, &err));
  CHECK_OK(txj_txn_commit(t, NULL, &err));
  {
    const char* topics[] = {"nope"};
    txj_cursor_t* c = NULL;
    CHECK_RC(TXJ_INVALID_ARGUMENT, txj_cursor_open(j, 0, topics, 1, NULL, 0, &c, &err));
    CHECK(c == NULL);
  }
  CHECK_OK(txj_close(j, &err));
  txj_options_destroy(o);
  txj_options_destroy(plain);

  /* Defaults (NULL options): created with kCommit durability. */
  CHECK_OK(txj_open(jpath("defaults"), NULL, &j, &err));
  CHECK_OK(txj_stats(j, &st, &err));
  CHECK(st.durability == TXJ_DURABILITY_COMMIT);
  CHECK_OK(txj_close(j, &err));
  CHECK(err == NULL);
}

/* The recovery report after open: created, then clean with the counts. */
static void test_recovery_report(void) {
  char* err = NULL;
  txj_journal_t* j = open_quick("j");
  txj_recovery_info_t ri;
  CHECK_OK(txj_recovery(j, &ri, &err));
  CHECK(ri.created == 1);
  CHECK(ri.repair_count == 0);
  CHECK(ri.next_offset == 0);
  commit_events(j, "a", 3);
  commit_events(j, "b", 2);
  CHECK_OK(txj_close(j, &err));

  j = open_quick("j");
  CHECK_OK(txj_recovery(j, &ri, &err));
  CHECK(ri.created == 0);
  CHECK(ri.repair_count == 0);
  CHECK(ri.next_offset == 5);
  CHECK(ri.next_txn_id >= 2);
  CHECK(ri.end_lsn >= ri.start_lsn);
  txj_recovery_repair_t rep;
  CHECK_RC(TXJ_NOT_FOUND, txj_recovery_repair(j, 0, &rep, &err));
  CHECK_ERR_HAS("out of range");
  for (size_t i = 0; i < ri.note_count; ++i) {
    const char* note = NULL;
    CHECK_OK(txj_recovery_note(j, i, &note, &err));
    CHECK(note != NULL);
  }
  const char* note = NULL;
  CHECK_RC(TXJ_NOT_FOUND, txj_recovery_note(j, ri.note_count, &note, &err));
  char* text = NULL;
  CHECK_OK(txj_recovery_string(j, &text, &err));
  CHECK(text != NULL && strlen(text) > 0);
  txj_free(text);
  CHECK_OK(txj_close(j, &err));
  txj_free(err);
}

/* Nested sub-transactions to any depth: a rolled-back sub-transaction is
 * invisible on replay, the outer commit is visible, offsets are dense, and
 * commit info is right. */
static void test_nested_transactions(void) {
  char* err = NULL;
  txj_journal_t* j = open_quick("j");
  txj_txn_t *top = NULL, *sub = NULL, *subsub = NULL;
  txj_commit_info_t info;
  uint64_t id = 0;
  uint32_t sub_id = 99, depth = 99;
  int is_open = 0;

  commit_events(j, "first", 2); /* offsets 0, 1 */

  CHECK_OK(txj_begin(j, &top, &err));
  CHECK_OK(txj_txn_info(top, &id, &sub_id, &depth, &is_open, &err));
  CHECK(sub_id == 0 && depth == 0 && is_open == 1 && id > 0);
  CHECK_OK(txj_txn_append(top, "orders", "created", "o1", 2, &err));

  /* A sub-transaction with a committed child, rolled back: all of it goes. */
  CHECK_OK(txj_txn_begin(top, &sub, &err));
  CHECK_OK(txj_txn_info(sub, NULL, &sub_id, &depth, NULL, &err));
  CHECK(sub_id != 0 && depth == 1);
  CHECK_OK(txj_txn_append(sub, "stock", "reserved", "r1", 2, &err));
  CHECK_OK(txj_txn_begin(sub, &subsub, &err));
  CHECK_OK(txj_txn_info(subsub, NULL, NULL, &depth, NULL, &err));
  CHECK(depth == 2);
  CHECK_OK(txj_txn_append(subsub, "stock", "reserved", "r2", 2, &err));
  CHECK_OK(txj_txn_commit(subsub, &info, &err));
  CHECK(info.sub_id != 0 && info.count == 1 && info.first_offset == 0 && info.txn_id == id);
  CHECK_OK(txj_txn_rollback(sub, &err));

  /* A committed sub-transaction: its events join the parent. */
  CHECK_OK(txj_txn_begin(top, &sub, &err));
  CHECK_OK(txj_txn_append(sub, "orders", "paid", "o1-paid", 7, &err));
  CHECK_OK(txj_txn_commit(sub, &info, &err));
  CHECK(info.count == 1);

  /* Depth 40: every level appends and commits into its parent, except one
   * level in the middle that rolls back (taking the deeper ones with it). */
  enum { DEPTH = 40 };
  txj_txn_t* chain[DEPTH + 1];
  chain[0] = top;
  for (int d = 1; d <= DEPTH; ++d) {
    CHECK_OK(txj_txn_begin(chain[d - 1], &chain[d], &err));
    CHECK_OK(txj_txn_info(chain[d], NULL, NULL, &depth, NULL, &err));
    CHECK(depth == (uint32_t)d);
    char p[16];
    int len = snprintf(p, sizeof p, "d%d", d);
    CHECK_OK(txj_txn_append(chain[d], "deep", "t", p, (size_t)len, &err));
  }
  for (int d = DEPTH; d >= 1; --d) {
    if (d == 20) {
      CHECK_OK(txj_txn_rollback(chain[d], &err));
    } else {
      CHECK_OK(txj_txn_commit(chain[d], &info, &err));
      CHECK(info.count == (d > 20 ? (uint64_t)(DEPTH - d + 1) : (uint64_t)(20 - d)));
    }
  }

  CHECK_OK(txj_txn_commit(top, &info, &err));
  /* o1, o1-paid, d1..d19 */
  CHECK(info.txn_id == id && info.sub_id == 0);
  CHECK(info.first_offset == 2);
  CHECK(info.count == 2 + 19);
  CHECK(info.lsn > 0);

  /* A rolled-back top level leaves nothing. */
  CHECK_OK(txj_begin(j, &top, &err));
  CHECK_OK(txj_txn_append(top, "orders", "created", "gone", 4, &err));
  CHECK_OK(txj_txn_rollback(top, &err));
  /* An empty commit: count 0, first_offset the next offset. */
  CHECK_OK(txj_begin(j, &top, &err));
  CHECK_OK(txj_txn_commit(top, &info, &err));
  CHECK(info.count == 0 && info.first_offset == 23);

  read_t r;
  read_all(j, 0, &r);
  CHECK(r.n == 23);
  for (size_t i = 0; i < r.n; ++i) CHECK(r.offset[i] == i);
  CHECK(strcmp(r.payload[2], "o1") == 0 && r.txn_id[2] == id);
  CHECK(strcmp(r.payload[3], "o1-paid") == 0 && r.txn_id[3] == id);
  for (int d = 1; d <= 19; ++d) {
    char p[16];
    snprintf(p, sizeof p, "d%d", d);
    CHECK(strcmp(r.payload[3 + d], p) == 0);
  }
  for (size_t i = 0; i < r.n; ++i) {
    CHECK(strcmp(r.payload[i], "r1") != 0 && strcmp(r.payload[i], "r2") != 0);
    CHECK(strcmp(r.payload[i], "gone") != 0);
  }

  /* The same after a reopen: the markers replay the same way. */
  CHECK_OK(txj_close(j, &err));
  j = open_quick("j");
  read_t r2;
  read_all(j, 0, &r2);
  CHECK(r2.n == r.n);
  for (size_t i = 0; i < r.n; ++i) CHECK(strcmp(r.payload[i], r2.payload[i]) == 0 && r2.offset[i] == i);
  CHECK_OK(txj_close(j, &err));
  CHECK(err == NULL);
}

/* Misuse of transactions: a level with an open child accepts only the end
 * of that child; ended handles; a second begin on the same thread; a
 * journal with live handles refuses to close. */
static void test_transaction_errors(void) {
  char* err = NULL;
  txj_journal_t* j = open_quick("j");
  txj_txn_t *top = NULL, *sub = NULL, *t2 = NULL, *deep = NULL;

  CHECK_OK(txj_begin(j, &top, &err));
  /* This thread holds the transaction: waiting for it would never end. */
  CHECK_RC(TXJ_INVALID_STATE, txj_begin(j, &t2, &err));
  CHECK(t2 == NULL);
  CHECK_RC(TXJ_INVALID_STATE, txj_try_begin(j, &t2, &err));
  CHECK_RC(TXJ_INVALID_STATE, txj_begin_timeout(j, 10, &t2, &err));
  /* Bad topics. */
  CHECK_RC(TXJ_INVALID_ARGUMENT, txj_txn_append(top, "", "t", "x", 1, &err));
  CHECK_RC(TXJ_INVALID_ARGUMENT, txj_txn_append(top, "bad\ntopic", "t", "x", 1, &err));

  CHECK_OK(txj_txn_begin(top, &sub, &err));
  CHECK_RC(TXJ_INVALID_STATE, txj_txn_append(top, "a", "t", "x", 1, &err));
  CHECK_RC(TXJ_INVALID_STATE, txj_txn_begin(top, &t2, &err));
  CHECK(t2 == NULL);

  /* Live handles: close refuses and does nothing. */
  CHECK_RC(TXJ_INVALID_STATE, txj_close(j, &err));
  CHECK_ERR_HAS("transaction handle");

  /* Commit of a level with an open child fails, frees the handle and rolls
   * the whole tree back; the child's handle then answers INVALID_STATE. */
  CHECK_OK(txj_txn_append(sub, "a", "t", "lost", 4, &err));
  CHECK_OK(txj_txn_begin(sub, &deep, &err));
  CHECK_RC(TXJ_INVALID_STATE, txj_txn_commit(top, NULL, &err));
  int is_open = 1;
  CHECK_OK(txj_txn_info(sub, NULL, NULL, NULL, &is_open, &err));
  CHECK(is_open == 0);
  CHECK_RC(TXJ_INVALID_STATE, txj_txn_append(deep, "a", "t", "x", 1, &err));
  CHECK_RC(TXJ_INVALID_STATE, txj_txn_commit(deep, NULL, &err)); /* frees deep */
  CHECK_RC(TXJ_INVALID_STATE, txj_txn_rollback(sub, &err));      /* frees sub */

  /* The write slot is free again. */
  CHECK_OK(txj_try_begin(j, &top, &err));
  CHECK_OK(txj_txn_append(top, "a", "t", "kept", 4, &err));
  CHECK_OK(txj_txn_begin(top, &sub, &err));
  /* Rollback of a level with an open child: refused, tree rolled back. */
  CHECK_RC(TXJ_INVALID_STATE, txj_txn_rollback(top, &err));
  CHECK_RC(TXJ_INVALID_STATE, txj_txn_rollback(sub, &err));

  CHECK_OK(txj_begin_timeout(j, 0, &top, &err));
  CHECK_OK(txj_txn_append(top, "a", "t", "kept", 4, &err));
  CHECK_OK(txj_txn_commit(top, NULL, &err));

  read_t r;
  read_all(j, 0, &r);
  CHECK(r.n == 1 && strcmp(r.payload[0], "kept") == 0 && r.offset[0] == 0);

  /* A live cursor also keeps the journal from closing. */
  txj_cursor_t* c = NULL;
  CHECK_OK(txj_cursor_open(j, 0, NULL, 0, NULL, 0, &c, &err));
  CHECK_RC(TXJ_INVALID_STATE, txj_close(j, &err));
  CHECK_ERR_HAS("1 cursor handle");
  CHECK_OK(txj_cursor_destroy(c));
  CHECK_OK(txj_close(j, &err));
  CHECK(err == NULL);
}

typedef struct {
  txj_journal_t* j;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int stage; /* 0 start, 1 holder has begun, 2 release, 3 done */
  txj_cursor_t* cursor;
  int rc;
} shared_t;

static void shared_init(shared_t* s) {
  memset(s, 0, sizeof *s);
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  s->j = open_quick("j");
}

static void shared_destroy(shared_t* s) {
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
}

static void set_stage(shared_t* s, int stage) {
  pthread_mutex_lock(&s->mu);
  s->stage = stage;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

static void wait_stage(shared_t* s, int stage) {
  pthread_mutex_lock(&s->mu);
  while (s->stage != stage) pthread_cond_wait(&s->cv, &s->mu);
  pthread_mutex_unlock(&s->mu);
}

static void* hold_transaction(void* arg) {
  shared_t* s = arg;
  char* err = NULL;
  txj_txn_t* t = NULL;
  CHECK_OK(txj_begin(s->j, &t, &err));
  CHECK_OK(txj_txn_append(t, "held", "t", "h", 1, &err));
  set_stage(s, 1);
  wait_stage(s, 2);
  CHECK_OK(txj_txn_commit(t, NULL, &err));
  return NULL;
}

/* Another thread's open transaction: try_begin is busy, begin_timeout
 * times out, begin waits and then succeeds. */
static void test_begin_contention(void) {
  char* err = NULL;
  shared_t s;
  shared_init(&s);
  pthread_t th;
  CHECK(pthread_create(&th, NULL, hold_transaction, &s) == 0);
  wait_stage(&s, 1);

  txj_txn_t* t = NULL;
  CHECK_RC(TXJ_BUSY, txj_try_begin(s.j, &t, &err));
  CHECK(t == NULL);
  CHECK_RC(TXJ_TIMED_OUT, txj_begin_timeout(s.j, 20, &t, &err));
  CHECK(t == NULL);

  set_stage(&s, 2);
  CHECK_OK(txj_begin(s.j, &t, &err)); /* waits for the holder's commit */
  CHECK_OK(txj_txn_append(t, "mine", "t", "m", 1, &err));
  CHECK_OK(txj_txn_commit(t, NULL, &err));
  CHECK(pthread_join(th, NULL) == 0);
  read_t r;
  read_all(s.j, 0, &r);
  CHECK(r.n == 2 && strcmp(r.topic[0], "held") == 0 && strcmp(r.topic[1], "mine") == 0);
  CHECK_OK(txj_close(s.j, &err));
  shared_destroy(&s);
}

/* Cursor reads: every field of an event, filters by topic and type, the
 * position, the end of the committed view. */
static void test_cursor_read(void) {
  char* err = NULL;
  txj_journal_t* j = open_quick("j");
  txj_txn_t* t = NULL;
  txj_commit_info_t info;
  CHECK_OK(txj_begin(j, &t, &err));
  CHECK_OK(txj_txn_append_ex(t, "orders", "created", "o-1", 3, "{\"id\":1}", 8, 1234567890ull, &err));
  CHECK_OK(txj_txn_append_ex(t, "orders", "deleted", "", 0, "", 0, 0, &err)); /* empty key, empty payload */
  CHECK_OK(txj_txn_append(t, "stock", "created", "s", 1, &err));              /* no key */
  CHECK_OK(txj_txn_append(t, "audit", "", "\0\1\2", 3, &err));              /* binary payload, empty type */
  CHECK_OK(txj_txn_commit(t, &info, &err));

  txj_cursor_t* c = NULL;
  txj_event_t ev;
  int found = 0;
  CHECK_OK(txj_cursor_open(j, 0, NULL, 0, NULL, 0, &c, &err));
  CHECK_OK(txj_cursor_next(c, &ev, &found, &err));
  CHECK(found == 1);
  CHECK(ev.offset == 0 && ev.txn_id == info.txn_id && ev.timestamp_ns == 1234567890ull && ev.lsn > 0);
  CHECK_VIEW(ev.topic, ev.topic_len, "orders");
  CHECK_VIEW(ev.type, ev.type_len, "created");
  CHECK(ev.has_key == 1);
  CHECK_VIEW(ev.key, ev.key_len, "o-1");
  CHECK_VIEW(ev.payload, ev.payload_len, "{\"id\":1}");
  CHECK_OK(txj_cursor_next(c, &ev, &found, &err));
  CHECK(found == 1 && ev.offset == 1 && ev.has_key == 1 && ev.key != NULL && ev.key_len == 0);
  CHECK(ev.payload != NULL && ev.payload_len == 0);
  CHECK(ev.timestamp_ns > 1600000000ull * 1000000000ull); /* the transaction's time */
  CHECK_OK(txj_cursor_next(c, &ev, &found, &err));
  CHECK(found == 1 && ev.offset == 2 && ev.has_key == 0 && ev.key == NULL && ev.key_len == 0);
  CHECK_OK(txj_cursor_next(c, &ev, &found, &err));
  CHECK(found == 1 && ev.offset == 3 && ev.type != NULL && ev.type_len == 0);
  CHECK(ev.payload_len == 3 && memcmp(ev.payload, "\0\1\2", 3) == 0);
  uint64_t pos = 0;
  CHECK_OK(txj_cursor_position(c, &pos, &err));
  CHECK(pos == 4);
  CHECK_OK(txj_cursor_next(c, &ev, &found, &err));
  CHECK(found == 0);
  CHECK_OK(txj_cursor_destroy(c));

  /* Topic filter. */
  const char* orders[] = {"orders"};
  CHECK_OK(txj_cursor_open(j, 0, orders, 1, NULL, 0, &c, &err));
  int n = 0;
  for (;;) {
    CHECK_OK(txj_cursor_next(c, &ev, &found, &err));
    if (!found) break;
    CHECK_VIEW(ev.topic, ev.topic_len, "orders");
    ++n;
  }
  CHECK(n == 2);
  CHECK_OK(txj_cursor_destroy(c));
  /* Type filter across topics. */
  const char* created[] = {"created"};
  CHECK_OK(txj_cursor_open(j, 0, NULL, 0, created, 1, &c, &err));
  CHECK_OK(txj_cursor_next(c, &ev, &found, &err));
  CHECK(found && ev.offset == 0);
  CHECK_OK(txj_cursor_next(c, &ev, &found, &err));
  CHECK(found && ev.offset == 2);
  CHECK_OK(txj_cursor_next(c, &ev, &found, &err));
  CHECK(!found);
  CHECK_OK(txj_cursor_destroy(c));
  /* Both. */
  const char* two_topics[] = {"stock", "orders"};
  const char* deleted[] = {"deleted"};
  CHECK_OK(txj_cursor_open(j, 0, two_topics, 2, deleted, 1, &c, &err));
  CHECK_OK(txj_cursor_next(c, &ev, &found, &err));
  CHECK(found && ev.offset == 1);
  CHECK_OK(txj_cursor_next(c, &ev, &found, &err));
  CHECK(!found);
  CHECK_OK(txj_cursor_destroy(c));
  /* From an offset. */
  CHECK_OK(txj_cursor_open(j, 3, NULL, 0, NULL, 0, &c, &err));
  CHECK_OK(txj_cursor_next(c, &ev, &found, &err));
  CHECK(found && ev.offset == 3);
  CHECK_OK(txj_cursor_destroy(c));
  CHECK_OK(txj_close(j, &err));
  CHECK(err == NULL);
}

/* Batches in, batches out; claims published, cancelled, and ended by a
 * rollback; the handles they leave count until freed. */
static void test_batch_and_claim(void) {
  char* err = NULL;
  txj_journal_t* j = open_quick("j");
  txj_txn_t* t = NULL;
  txj_commit_info_t info;
  CHECK_OK(txj_begin(j, &t, &err));
  const txj_new_event_t batch[3] = {
      {"orders", "created", "o-1", 3, "{\"id\":1}", 8, 42},
      {"orders", "paid", NULL, 0, "", 0, 0},
      {"stock", "", "", 0, "\0\1", 2, 0},
  };
  CHECK_OK(txj_txn_append_batch(t, batch, 3, &err));
  /* An invalid event anywhere: nothing of that batch is appended. */
  const txj_new_event_t bad[2] = {{"orders", "x", NULL, 0, "a", 1, 0}, {"", "x", NULL, 0, "b", 1, 0}};
  CHECK_RC(TXJ_INVALID_ARGUMENT, txj_txn_append_batch(t, bad, 2, &err));
  CHECK(err != NULL && strstr(err, "1") != NULL);
  const txj_new_event_t null_topic[1] = {{NULL, "x", NULL, 0, "a", 1, 0}};
  CHECK_RC(TXJ_INVALID_ARGUMENT, txj_txn_append_batch(t, null_topic, 1, &err));
  CHECK(strstr(err, "event 0") != NULL);
  CHECK_RC(TXJ_INVALID_ARGUMENT, txj_txn_append_batch(t, NULL, 1, &err));
  CHECK_OK(txj_txn_append_batch(t, NULL, 0, &err));

  /* A claim, filled in place and published. */
  void* payload = NULL;
  txj_claim_t* claim = NULL;
  CHECK_OK(txj_txn_claim(t, "blobs", "put", 5, &payload, &claim, &err));
  CHECK(payload != NULL && claim != NULL);
  memcpy(payload, "hello", 5);
  /* While it is open the tree takes nothing else, and the journal will not close. */
  CHECK_RC(TXJ_INVALID_STATE, txj_txn_append(t, "orders", "x", "y", 1, &err));
  CHECK_RC(TXJ_INVALID_STATE, txj_close(j, &err));
  CHECK_OK(txj_claim_publish(claim, &err));
  /* A cancelled claim leaves no event. */
  CHECK_OK(txj_txn_claim(t, "blobs", "put", 3, &payload, &claim, &err));
  memcpy(payload, "zzz", 3);
  CHECK_OK(txj_claim_cancel(claim, &err));
  CHECK_OK(txj_txn_commit(t, &info, &err));
  CHECK(info.first_offset == 0 && info.count == 4);

  /* A rollback ends an open claim: publishing it then says so. */
  CHECK_OK(txj_begin(j, &t, &err));
  CHECK_OK(txj_txn_claim(t, "blobs", "put", 4, &payload, &claim, &err));
  CHECK_OK(txj_txn_rollback(t, &err));
  CHECK_RC(TXJ_INVALID_STATE, txj_claim_publish(claim, &err));
  CHECK_RC(TXJ_INVALID_ARGUMENT, txj_claim_publish(NULL, &err));
  CHECK_RC(TXJ_INVALID_ARGUMENT, txj_claim_cancel(NULL, &err));

  /* Read back two at a time: the same events as one at a time. */
  txj_cursor_t* c = NULL;
  txj_event_t ev[2];
  size_t n = 99;
  CHECK_OK(txj_cursor_open(j, 0, NULL, 0, NULL, 0, &c, &err));
  CHECK_RC(TXJ_INVALID_ARGUMENT, txj_cursor_next_batch(c, ev, 0, &n, &err));
  CHECK_OK(txj_cursor_next_batch(c, ev, 2, &n, &err));
  CHECK(n == 2);
  CHECK(ev[0].offset == 0 && ev[0].txn_id == info.txn_id && ev[0].timestamp_ns == 42 && ev[0].has_key == 1);
  CHECK_VIEW(ev[0].topic, ev[0].topic_len, "orders");
  CHECK_VIEW(ev[0].key, ev[0].key_len, "o-1");
  CHECK_VIEW(ev[0].payload, ev[0].payload_len, "{\"id\":1}");
  CHECK(ev[1].offset == 1 && ev[1].has_key == 0 && ev[1].key == NULL && ev[1].payload_len == 0);
  CHECK_VIEW(ev[1].type, ev[1].type_len, "paid");
  CHECK_OK(txj_cursor_next_batch(c, ev, 2, &n, &err));
  CHECK(n == 2);
  CHECK(ev[0].offset == 2 && ev[0].has_key == 1 && ev[0].key_len == 0 && ev[0].type_len == 0);
  CHECK(ev[0].payload_len == 2 && memcmp(ev[0].payload, "\0\1", 2) == 0);
  CHECK(ev[1].offset == 3);
  CHECK_VIEW(ev[1].topic, ev[1].topic_len, "blobs");
  CHECK_VIEW(ev[1].payload, ev[1].payload_len, "hello");
  CHECK_OK(txj_cursor_next_batch(c, ev, 2, &n, &err));
  CHECK(n == 0);
  CHECK_OK(txj_cursor_destroy(c));
  CHECK_OK(txj_close(j, &err));
  CHECK(err == NULL);
}

static void* commit_later(void* arg) {
  shared_t* s = arg;
  char* err = NULL;
  /* Wait until the main thread says it is about to wait. */
  wait_stage(s, 1);
  txj_txn_t* t = NULL;
  CHECK_OK(txj_begin(s->j, &t, &err));
  CHECK_OK(txj_txn_append(t, "later", "t", "L", 1, &err));
  CHECK_OK(txj_txn_commit(t, NULL, &err));
  return NULL;
}

static void* close_cursor_later(void* arg) {
  shared_t* s = arg;
  char* err = NULL;
  wait_stage(s, 1);
  s->rc = txj_cursor_close(s->cursor, &err);
  txj_free(err);
  return NULL;
}

/* Waiting: a timeout returns TXJ_TIMED_OUT; a commit from another thread
 * wakes the waiter with the event; a close from another thread wakes it
 * with TXJ_CLOSED; a closed cursor answers TXJ_CLOSED to every read. */
static void test_cursor_wait_and_close(void) {
  char* err = NULL;
  shared_t s;
  shared_init(&s);
  commit_events(s.j, "a", 1);

  txj_cursor_t* c = NULL;
  txj_event_t ev;
  int found;
  CHECK_OK(txj_cursor_open(s.j, 0, NULL, 0, NULL, 0, &c, &err));
  CHECK_OK(txj_cursor_wait(c, 1000, &ev, &err)); /* already there: no wait */
  CHECK(ev.offset == 0);
  CHECK_RC(TXJ_TIMED_OUT, txj_cursor_wait(c, 30, &ev, &err));
  CHECK_RC(TXJ_TIMED_OUT, txj_cursor_wait(c, 0, &ev, &err));

  /* Woken by a commit (no time limit). */
  pthread_t th;
  CHECK(pthread_create(&th, NULL, commit_later, &s) == 0);
  set_stage(&s, 1);
  CHECK_OK(txj_cursor_wait(c, -1, &ev, &err));
  CHECK(ev.offset == 1);
  CHECK_VIEW(ev.topic, ev.topic_len, "later");
  CHECK(pthread_join(th, NULL) == 0);

  /* Woken by a close from another thread. */
  s.stage = 0;
  s.cursor = c;
  s.rc = -1;
  CHECK(pthread_create(&th, NULL, close_cursor_later, &s) == 0);
  set_stage(&s, 1);
  CHECK_RC(TXJ_CLOSED, txj_cursor_wait(c, -1, &ev, &err));
  CHECK(pthread_join(th, NULL) == 0);
  CHECK(s.rc == TXJ_OK);

  /* Closed: every read is TXJ_CLOSED, a second close too. */
  CHECK_RC(TXJ_CLOSED, txj_cursor_next(c, &ev, &found, &err));
  CHECK_RC(TXJ_CLOSED, txj_cursor_wait(c, 10, &ev, &err));
  CHECK_RC(TXJ_CLOSED, txj_cursor_close(c, &err));
  CHECK_OK(txj_cursor_destroy(c));

  /* Close on the reading thread, then read. */
  CHECK_OK(txj_cursor_open(s.j, 0, NULL, 0, NULL, 0, &c, &err));
  CHECK_OK(txj_cursor_close(c, &err));
  CHECK_RC(TXJ_CLOSED, txj_cursor_next(c, &ev, &found, &err));
  CHECK_ERR_HAS("closed");
  CHECK_OK(txj_cursor_destroy(c));
  CHECK_OK(txj_close(s.j, &err));
  shared_destroy(&s);
  txj_free(err);
}

/* Compaction with the latest-by-key compactor, rebuild with the state
 * hash, retention, and the errors around them. */
static void test_compaction_and_rebuild(void) {
  char* err = NULL;
  txj_journal_t* j = open_quick("j");
  txj_txn_t* t = NULL;
  txj_snapshot_info_t snap;
  txj_state_t* st = NULL;
  txj_state_info_t si;

  CHECK_RC(TXJ_NOT_FOUND, txj_compact(j, "accounts", &snap, &err));
  CHECK_ERR_HAS("accounts");
  CHECK_OK(txj_register_latest_by_key(j, "accounts", NULL, 0, 0, &err));

  CHECK_OK(txj_begin(j, &t, &err));
  CHECK_OK(txj_txn_append_ex(t, "accounts", "set", "alice", 5, "10", 2, 0, &err)); /* 0 */
  CHECK_OK(txj_txn_append_ex(t, "accounts", "set", "bob", 3, "20", 2, 0, &err));   /* 1 */
  CHECK_OK(txj_txn_append(t, "other", "t", "x", 1, &err));                          /* 2 */
  CHECK_OK(txj_txn_append_ex(t, "accounts", "set", "alice", 5, "15", 2, 0, &err)); /* 3 */
  CHECK_OK(txj_txn_append_ex(t, "accounts", "tombstone", "bob", 3, "", 0, 0, &err)); /* 4 */
  CHECK_OK(txj_txn_append_ex(t, "accounts", "set", "carol", 5, "30", 2, 0, &err)); /* 5 */
  CHECK_OK(txj_txn_commit(t, NULL, &err));

  /* Rebuild before compaction: the fold of the whole history. */
  CHECK_OK(txj_rebuild(j, "accounts", &st, &err));
  CHECK_OK(txj_state_info(st, &si, &err));
  CHECK(si.key_count == 2 && si.from_snapshot == 0 && si.events_applied == 5 && si.next_offset == 6);
  CHECK(strlen(si.state_hash) == 32);
  char before_hash[33];
  memcpy(before_hash, si.state_hash, sizeof before_hash);
  const void* v;
  size_t vlen;
  int found;
  CHECK_OK(txj_state_get(st, "alice", 5, &v, &vlen, &found, &err));
  CHECK(found == 1);
  CHECK_VIEW(v, vlen, "15");
  CHECK_OK(txj_state_get(st, "bob", 3, &v, &vlen, &found, &err));
  CHECK(found == 0);
  const void* k;
  size_t klen;
  CHECK_OK(txj_state_entry(st, 0, &k, &klen, &v, &vlen, &err));
  CHECK_VIEW(k, klen, "alice");
  CHECK_OK(txj_state_entry(st, 1, &k, &klen, &v, &vlen, &err));
  CHECK_VIEW(k, klen, "carol");
  CHECK_VIEW(v, vlen, "30");
  CHECK_RC(TXJ_NOT_FOUND, txj_state_entry(st, 2, &k, &klen, &v, &vlen, &err));
  const void* enc;
  size_t enclen;
  CHECK_OK(txj_state_encoded(st, &enc, &enclen, &err));
  CHECK(enclen > 0);
  txj_state_destroy(st);

  CHECK_OK(txj_compact(j, "accounts", &snap, &err));
  CHECK(snap.covered_offset == 6 && snap.events_folded == 5 && snap.compactor_version == 1);
  CHECK(strcmp(snap.state_hash, before_hash) == 0);
  CHECK(snap.size == enclen);

  /* The compacted history is gone for cursors asking for it; other topics stay. */
  txj_cursor_t* c = NULL;
  txj_event_t ev;
  const char* accounts[] = {"accounts"};
  const char* other[] = {"other"};
  CHECK_RC(TXJ_TRUNCATED, txj_cursor_open(j, 0, accounts, 1, NULL, 0, &c, &err));
  CHECK_ERR_HAS("compacted");
  CHECK(c == NULL);
  CHECK_OK(txj_cursor_open(j, 6, accounts, 1, NULL, 0, &c, &err));
  CHECK_OK(txj_cursor_next(c, &ev, &found, &err));
  CHECK(found == 0);
  CHECK_OK(txj_cursor_destroy(c));
  CHECK_OK(txj_cursor_open(j, 0, other, 1, NULL, 0, &c, &err));
  CHECK_OK(txj_cursor_next(c, &ev, &found, &err));
  CHECK(found == 1 && ev.offset == 2);
  CHECK_OK(txj_cursor_destroy(c));

  /* More history, then rebuild from the snapshot plus the tail. */
  CHECK_OK(txj_begin(j, &t, &err));
  CHECK_OK(txj_txn_append_ex(t, "accounts", "set", "bob", 3, "21", 2, 0, &err)); /* 6 */
  CHECK_OK(txj_txn_commit(t, NULL, &err));
  CHECK_OK(txj_rebuild(j, "accounts", &st, &err));
  CHECK_OK(txj_state_info(st, &si, &err));
  CHECK(si.from_snapshot == 6 && si.events_applied == 1 && si.key_count == 3 && si.next_offset == 7);
  char after_hash[33];
  memcpy(after_hash, si.state_hash, sizeof after_hash);
  CHECK(strcmp(after_hash, before_hash) != 0);
  txj_state_destroy(st);
  CHECK_OK(txj_close(j, &err));

  /* Read-only, without a registered compactor: the built-in one by
   * default, the same hash; compaction refused. */
  j = open_read_only("j");
  CHECK_OK(txj_rebuild(j, "accounts", &st, &err));
  CHECK_OK(txj_close(j, &err)); /* a state outlives its journal */
  CHECK_OK(txj_state_info(st, &si, &err));
  CHECK(strcmp(si.state_hash, after_hash) == 0);
  CHECK_OK(txj_state_get(st, "bob", 3, &v, &vlen, &found, &err));
  CHECK(found == 1);
  CHECK_VIEW(v, vlen, "21");
  txj_state_destroy(st);
  j = open_read_only("j");
  CHECK_OK(txj_register_latest_by_key(j, "accounts", NULL, 0, 0, &err));
  CHECK_RC(TXJ_INVALID_STATE, txj_compact(j, "accounts", &snap, &err));
  CHECK_OK(txj_close(j, &err));

  /* An event without a key cannot be folded; a custom tombstone type. */
  j = open_quick("j2");
  CHECK_OK(txj_register_latest_by_key(j, "kv", "gone", 0, 0, &err));
  CHECK_OK(txj_begin(j, &t, &err));
  CHECK_OK(txj_txn_append_ex(t, "kv", "set", "a", 1, "1", 1, 0, &err));
  CHECK_OK(txj_txn_append_ex(t, "kv", "gone", "a", 1, "", 0, 0, &err));
  CHECK_OK(txj_txn_append_ex(t, "kv", "set", "b", 1, "2", 1, 0, &err));
  CHECK_OK(txj_txn_commit(t, NULL, &err));
  CHECK_OK(txj_rebuild(j, "kv", &st, &err));
  CHECK_OK(txj_state_info(st, &si, &err));
  CHECK(si.key_count == 1);
  txj_state_destroy(st);
  CHECK_OK(txj_begin(j, &t, &err));
  CHECK_OK(txj_txn_append(t, "kv", "set", "keyless", 7, &err));
  CHECK_OK(txj_txn_commit(t, NULL, &err));
  CHECK_RC(TXJ_INVALID_ARGUMENT, txj_compact(j, "kv", &snap, &err));
  CHECK_RC(TXJ_INVALID_ARGUMENT, txj_rebuild(j, "kv", &st, &err));
  CHECK(st == NULL);

  /* Retention: events below the offset go for every cursor. */
  CHECK_RC(TXJ_INVALID_ARGUMENT, txj_apply_retention(j, 100, &err));
  CHECK_ERR_HAS("past the committed end");
  CHECK_OK(txj_apply_retention(j, 2, &err));
  txj_stats_t stats;
  CHECK_OK(txj_stats(j, &stats, &err));
  CHECK(stats.first_offset == 2 && stats.next_offset == 4);
  CHECK_RC(TXJ_TRUNCATED, txj_cursor_open(j, 0, NULL, 0, NULL, 0, &c, &err));
  CHECK(c == NULL);
  CHECK_OK(txj_cursor_open(j, 2, NULL, 0, NULL, 0, &c, &err));
  CHECK_OK(txj_cursor_next(c, &ev, &found, &err));
  CHECK(found && ev.offset == 2);
  CHECK_OK(txj_cursor_destroy(c));
  CHECK_OK(txj_close(j, &err));
  txj_free(err);
}

/* Consumer offsets: 0 when none, saved durably across a reopen, refused
 * read-only and for an empty name. */
static void test_consumer_offsets(void) {
  char* err = NULL;
  txj_journal_t* j = open_quick("j");
  uint64_t off = 99;
  CHECK_OK(txj_offset_load(j, "billing", &off, &err));
  CHECK(off == 0);
  CHECK_OK(txj_offset_save(j, "billing", 42, &err));
  CHECK_OK(txj_offset_save(j, "audit", 7, &err));
  CHECK_OK(txj_offset_load(j, "billing", &off, &err));
  CHECK(off == 42);
  CHECK_RC(TXJ_INVALID_ARGUMENT, txj_offset_save(j, "", 1, &err));
  CHECK_ERR_HAS("empty consumer");
  CHECK_RC(TXJ_INVALID_ARGUMENT, txj_offset_load(j, "", &off, &err));
  CHECK_OK(txj_close(j, &err));

  j = open_quick("j");
  CHECK_OK(txj_offset_load(j, "billing", &off, &err));
  CHECK(off == 42);
  CHECK_OK(txj_offset_load(j, "audit", &off, &err));
  CHECK(off == 7);
  CHECK_OK(txj_offset_save(j, "billing", 43, &err));
  CHECK_OK(txj_close(j, &err));

  j = open_read_only("j");
  CHECK_RC(TXJ_INVALID_STATE, txj_offset_load(j, "billing", &off, &err));
  CHECK_ERR_HAS("writable catalog");
  CHECK_RC(TXJ_INVALID_STATE, txj_offset_save(j, "billing", 1, &err));
  CHECK_OK(txj_close(j, &err));
  j = open_quick("j");
  CHECK_OK(txj_offset_load(j, "billing", &off, &err));
  CHECK(off == 43);
  CHECK_OK(txj_close(j, &err));
  txj_free(err);
}

/* Journal statistics and topics. */
static void test_stats_and_topics(void) {
  char* err = NULL;
  txj_journal_t* j = open_quick("j");
  txj_stats_t st;
  txj_topic_info_t* topics = (txj_topic_info_t*)1;
  size_t n = 99;
  CHECK_OK(txj_stats(j, &st, &err));
  CHECK(st.next_offset == 0 && st.first_offset == 0);
  uint64_t lsn0 = st.visible_lsn;
  CHECK_OK(txj_topics(j, &topics, &n, &err));
  CHECK(topics == NULL && n == 0);
  for (int i = 0; i < 10; ++i) commit_events(j, i % 2 ? "alpha" : "beta", 3);
  CHECK_OK(txj_stats(j, &st, &err));
  CHECK(st.next_offset == 30 && st.first_offset == 0 && st.visible_lsn > lsn0);
  char identity[33];
  memcpy(identity, st.identity, sizeof identity);
  CHECK_OK(txj_close(j, &err));

  j = open_quick("j");
  CHECK_OK(txj_stats(j, &st, &err));
  CHECK(strcmp(st.identity, identity) == 0);
  CHECK_OK(txj_topics(j, &topics, &n, &err));
  CHECK(n == 2);
  CHECK(strcmp(topics[0].name, "alpha") == 0 && topics[0].events == 15);
  CHECK(strcmp(topics[1].name, "beta") == 0 && topics[1].events == 15);
  CHECK(topics[0].bytes == 15 * strlen("alpha-0"));
  CHECK(topics[1].first_offset == 0 && topics[1].last_offset == 26);
  txj_free(topics);
  CHECK_OK(txj_close(j, &err));
  CHECK(err == NULL);
}

/* One crash-and-reopen: a child process commits under kCommit durability
 * and reports each acknowledged commit through a pipe; it is SIGKILLed (or
 * leaves with _exit(0)) without closing, in the middle of an open
 * transaction. The reopened journal holds every acknowledged commit, whole
 * and in order, nothing of the open transaction, and reports the repair. */
typedef struct {
  uint64_t txn_id, first_offset, count;
} ack_t;

static void crash_child(const char* dir, int fd, int exit_cleanly) {
  char* err = NULL;
  txj_options_t* o = NULL;
  txj_journal_t* j = NULL;
  if (txj_options_create(&o, &err) != TXJ_OK) _exit(2);
  if (txj_options_set_segment_size(o, 256 * 1024, &err) != TXJ_OK) _exit(2);
  if (txj_options_set_durability(o, TXJ_DURABILITY_COMMIT, &err) != TXJ_OK) _exit(2);
  if (txj_open(dir, o, &j, &err) != TXJ_OK) {
    fprintf(stderr, "child: %s\n", err);
    _exit(2);
  }
  for (uint64_t i = 0;; ++i) {
    txj_txn_t *t = NULL, *sub = NULL;
    txj_commit_info_t info;
    char p[48];
    int len = snprintf(p, sizeof p, "commit-%llu", (unsigned long long)i);
    if (txj_begin(j, &t, &err) != TXJ_OK) _exit(3);
    if (txj_txn_append(t, "crash", "t", p, (size_t)len, &err) != TXJ_OK) _exit(3);
    if (txj_txn_begin(t, &sub, &err) != TXJ_OK) _exit(3);
    if (txj_txn_append(sub, "crash", "rolled-back", p, (size_t)len, &err) != TXJ_OK) _exit(3);
    if (txj_txn_rollback(sub, &err) != TXJ_OK) _exit(3);
    if (txj_txn_append(t, "crash", "t2", p, (size_t)len, &err) != TXJ_OK) _exit(3);
    if (i == 40) {
      /* Die with this transaction open (its records are on disk). */
      if (txj_sync(j, &err) != TXJ_OK) _exit(3);
      if (exit_cleanly) _exit(0);
      raise(SIGKILL);
    }
    if (txj_txn_commit(t, &info, &err) != TXJ_OK) _exit(3);
    ack_t a = {info.txn_id, info.first_offset, info.count};
    if (write(fd, &a, sizeof a) != (ssize_t)sizeof a) _exit(4);
  }
}

static void crash_and_reopen(int exit_cleanly) {
  char* err = NULL;
  int fds[2];
  CHECK(pipe(fds) == 0);
  const char* dir = jpath(exit_cleanly ? "exit" : "kill");
  char dir_copy[4200];
  snprintf(dir_copy, sizeof dir_copy, "%s", dir);
  fflush(NULL);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    crash_child(dir_copy, fds[1], exit_cleanly);
    _exit(5);
  }
  close(fds[1]);
  ack_t acks[64];
  size_t nacks = 0;
  for (;;) {
    ack_t a;
    ssize_t got = read(fds[0], &a, sizeof a);
    if (got == 0) break;
    if (got < 0 && errno == EINTR) continue;
    CHECK(got == (ssize_t)sizeof a);
    CHECK(nacks < 64);
    acks[nacks++] = a;
  }
  close(fds[0]);
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid);
  if (exit_cleanly) {
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  } else {
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  }
  CHECK(nacks == 40);

  txj_options_t* o = NULL;
  txj_journal_t* j = NULL;
  CHECK_OK(txj_options_create(&o, &err));
  CHECK_OK(txj_options_set_durability(o, TXJ_DURABILITY_COMMIT, &err));
  CHECK_OK(txj_open(dir_copy, o, &j, &err));
  txj_options_destroy(o);
  txj_recovery_info_t ri;
  CHECK_OK(txj_recovery(j, &ri, &err));
  CHECK(ri.created == 0);
  CHECK(ri.next_offset == 80);
  CHECK(ri.repair_count >= 1);
  int rolled_back = 0;
  for (size_t i = 0; i < ri.repair_count; ++i) {
    txj_recovery_repair_t rep;
    CHECK_OK(txj_recovery_repair(j, i, &rep, &err));
    CHECK(rep.file != NULL && rep.reason != NULL);
    if (strstr(rep.reason, "left open") != NULL) rolled_back = 1;
  }
  CHECK(rolled_back);

  read_t r;
  read_all(j, 0, &r);
  CHECK(r.n == 80);
  for (size_t i = 0; i < nacks; ++i) {
    CHECK(acks[i].count == 2);
    CHECK(acks[i].first_offset == 2 * i);
    char p[48];
    snprintf(p, sizeof p, "commit-%llu", (unsigned long long)i);
    CHECK(r.offset[2 * i] == 2 * i && r.offset[2 * i + 1] == 2 * i + 1);
    CHECK(r.txn_id[2 * i] == acks[i].txn_id && r.txn_id[2 * i + 1] == acks[i].txn_id);
    CHECK(strcmp(r.payload[2 * i], p) == 0 && strcmp(r.payload[2 * i + 1], p) == 0);
  }
  /* The journal takes commits again after the crash. */
  txj_commit_info_t info = commit_events(j, "after", 1);
  CHECK(info.first_offset == 80);
  CHECK_OK(txj_close(j, &err));
  txj_free(err);
}

static void test_crash_sigkill_reopen(void) { crash_and_reopen(0); }
static void test_crash_exit_without_close_reopen(void) { crash_and_reopen(1); }

/* ---- driver ---- */

typedef struct {
  const char* name;
  void (*fn)(void);
} test_t;

static const test_t kTests[] = {
    {"codes_and_version", test_codes_and_version},
    {"error_messages", test_error_messages},
    {"null_arguments", test_null_arguments},
    {"open_options", test_open_options},
    {"recovery_report", test_recovery_report},
    {"nested_transactions", test_nested_transactions},
    {"transaction_errors", test_transaction_errors},
    {"begin_contention", test_begin_contention},
    {"cursor_read", test_cursor_read},
    {"batch_and_claim", test_batch_and_claim},
    {"cursor_wait_and_close", test_cursor_wait_and_close},
    {"compaction_and_rebuild", test_compaction_and_rebuild},
    {"consumer_offsets", test_consumer_offsets},
    {"stats_and_topics", test_stats_and_topics},
    {"crash_sigkill_reopen", test_crash_sigkill_reopen},
    {"crash_exit_without_close_reopen", test_crash_exit_without_close_reopen},
};

static void run(const test_t* t) {
  capi_current_test = t->name;
  make_dir();
  t->fn();
  remove_dir();
  printf("ok %s\n", t->name);
  fflush(stdout);
}

int main(int argc, char** argv) {
  const size_t n = sizeof kTests / sizeof kTests[0];
  if (argc == 1) {
    for (size_t i = 0; i < n; ++i) run(&kTests[i]);
    printf("%zu tests passed\n", n);
    return 0;
  }
  for (int a = 1; a < argc; ++a) {
    size_t i = 0;
    while (i < n && strcmp(kTests[i].name, argv[a]) != 0) ++i;
    if (i == n) {
      fprintf(stderr, "unknown test %s; tests:", argv[a]);
      for (size_t k = 0; k < n; ++k) fprintf(stderr, " %s", kTests[k].name);
      fprintf(stderr, "\n");
      return 2;
    }
    run(&kTests[i]);
  }
  return 0;
}
