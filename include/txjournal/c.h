/* txjournal: the C API.
 *
 * A C11 interface to the journal, for C programs and for bindings to other
 * languages. It wraps the C++ API (journal.h, transaction.h, cursor.h,
 * compactor.h, offset_store.h) and keeps its semantics; this header is the
 * manual of the C calls. Build with
 *
 *     cc prog.c $(pkg-config --cflags --libs txjournal)
 *
 * CONVENTIONS (read these first)
 *
 * Status codes. Every call returns an int: TXJ_OK (0) or one of the codes
 * of enum txj_code, whose values are those of txj::Code in status.h. The
 * only exceptions are txj_free() (void) and txj_code_name() (a string).
 *
 * Error messages. Every call that can fail takes a last argument
 * `char** errptr`. It may be NULL (the message is then discarded).
 * Otherwise *errptr must be NULL or a message from an earlier call on
 * entry: the call frees that earlier message and sets *errptr to NULL, and
 * when it fails it stores a new message there (a NUL-terminated string such
 * as "corruption: bad checksum in /j/0000.seg at byte 4160", allocated for
 * you; free it with txj_free()). So *errptr always belongs to the last call,
 * and a program that keeps passing the same variable leaks nothing. If even
 * the message cannot be allocated, *errptr stays NULL and the code is
 * still returned.
 *
 * Arguments. A NULL handle, out-pointer or string where one is required
 * returns TXJ_INVALID_ARGUMENT with a message naming the argument and the
 * call; it never crashes. Strings named "C string" are NUL-terminated UTF-8.
 * Byte strings are (pointer, length) pairs; the pointer may be NULL only
 * when the length is 0.
 *
 * Out of memory. A call that cannot allocate returns TXJ_NO_SPACE with the
 * message "out of memory in <call>"; no C++ exception ever crosses this API.
 *
 * Handles. Opaque. Each has exactly one call that frees it:
 *   txj_options_t  -> txj_options_destroy()
 *   txj_journal_t  -> txj_close()
 *   txj_txn_t      -> txj_txn_commit() or txj_txn_rollback() (always, as in
 *                     LMDB: the call ends the handle's life whatever its
 *                     result, except when it returns TXJ_INVALID_ARGUMENT
 *                     because the handle itself was NULL)
 *   txj_cursor_t   -> txj_cursor_destroy()
 *   txj_claim_t    -> txj_claim_publish() or txj_claim_cancel() (always,
 *                     like a transaction)
 *   txj_state_t    -> txj_state_destroy()
 * Every transaction, claim and cursor handle must be freed before the journal that
 * made it: txj_close() refuses (TXJ_INVALID_STATE, nothing done) while any
 * is alive.
 *
 * Threads. Each call states its thread rule. In short: a journal handle may
 * be shared by threads; a transaction tree (a top-level transaction and its
 * sub-transactions) is used by one thread at a time; a cursor is used by one
 * thread at a time, except txj_cursor_close(), which any thread may call to
 * wake a waiting txj_cursor_wait(). A handle must not be freed while another
 * thread uses it.
 *
 * Processes. One process at a time opens a journal for writing (TXJ_BUSY
 * for another); any number read it, in any process. After fork(), the child
 * must not use handles opened by the parent: it opens its own.
 */
#ifndef TXJOURNAL_C_H_
#define TXJOURNAL_C_H_

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define TXJ_C_EXPORT __attribute__((visibility("default")))
#else
#define TXJ_C_EXPORT
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------
 * Status codes: the same values as txj::Code (status.h).
 * ------------------------------------------------------------------- */
enum txj_code {
  TXJ_OK = 0,
  TXJ_INVALID_ARGUMENT = 1, /* the caller passed something unusable */
  TXJ_INVALID_STATE = 2,    /* not allowed now (ended transaction, open child, live handles, ...) */
  TXJ_NOT_FOUND = 3,        /* a named thing does not exist */
  TXJ_CORRUPTION = 4,       /* stored data is damaged; the message names file and offset */
  TXJ_TRUNCATED = 5,        /* requested history was dropped (compaction, retention) */
  TXJ_CLOSED = 6,           /* the cursor or journal is closed */
  TXJ_BUSY = 7,             /* another writer holds the journal or the write transaction */
  TXJ_TIMED_OUT = 8,        /* a deadline passed */
  TXJ_CANCELLED = 9,        /* the wait was cancelled */
  TXJ_IO_ERROR = 10,        /* the operating system reported an error */
  TXJ_NO_SPACE = 11,        /* the file system is full (ENOSPC), or out of memory */
  TXJ_NOT_SUPPORTED = 12,   /* a format or feature version this build does not know */
  TXJ_FAILED = 13           /* the journal failed closed after a sync error: close and reopen it */
};

/* What txj_txn_commit() promises when it returns (txj::Durability). */
enum txj_durability {
  TXJ_DURABILITY_NONE = 0,    /* in the shared mapping: survives a process crash, not a machine crash */
  TXJ_DURABILITY_COMMIT = 1,  /* on stable storage (fdatasync); group commit. The default */
  TXJ_DURABILITY_PERIODIC = 2 /* as NONE, plus a background sync every sync interval */
};

typedef struct txj_options txj_options_t;
typedef struct txj_journal txj_journal_t;
typedef struct txj_txn txj_txn_t;
typedef struct txj_cursor txj_cursor_t;
typedef struct txj_state txj_state_t;

/* ---------------------------------------------------------------------
 * Memory, codes, version
 * ------------------------------------------------------------------- */

/* Frees memory this API allocated for the caller: error messages and the
 * buffers of txj_recovery_string() and txj_topics(). NULL is ignored.
 * Any thread. */
TXJ_C_EXPORT void txj_free(void* ptr);

/* A short stable name for `code`, such as "corruption" ("unknown" for a
 * value outside enum txj_code). Static storage: never free it. Any thread. */
TXJ_C_EXPORT const char* txj_code_name(int code);

/* The library version (semantic versioning) and the on-disk format version
 * this build reads and writes. Any argument may be NULL. Always TXJ_OK.
 * Any thread. */
TXJ_C_EXPORT int txj_version(int* major, int* minor, int* patch, uint32_t* format_version);

/* ---------------------------------------------------------------------
 * Options (txj::Options, options.h). Values are checked where noted;
 * the rest when the journal is opened.
 * Thread rule: an options handle is used by one thread at a time; after
 * txj_open() returns it may be changed or destroyed freely (the journal
 * keeps a copy).
 * ------------------------------------------------------------------- */

/* Creates an options handle holding the defaults: create if missing, no
 * error if it exists, read-write, 64 MiB segments, TXJ_DURABILITY_COMMIT,
 * commits padded to a page, 100 ms sync interval, mode 0600, no schema, no
 * catalog rebuild, 1 ms poll interval. Errors: TXJ_INVALID_ARGUMENT (out is
 * NULL), TXJ_NO_SPACE (out of memory).
 * Thread rule: any thread. */
TXJ_C_EXPORT int txj_options_create(txj_options_t** out, char** errptr);

/* Frees the handle. NULL is ignored. Always TXJ_OK.
 * Thread rule: not while another thread uses the handle. */
TXJ_C_EXPORT int txj_options_destroy(txj_options_t* options);

/* Each setter returns TXJ_OK, or TXJ_INVALID_ARGUMENT when `options` is
 * NULL or the value is rejected (said per setter). Booleans: 0 is false,
 * anything else true. */

/* Create the journal directory if it does not exist (default 1).
 * Thread rule: one thread at a time per options handle. */
TXJ_C_EXPORT int txj_options_set_create_if_missing(txj_options_t* options, int value, char** errptr);
/* Fail txj_open() with TXJ_INVALID_ARGUMENT if the journal exists (default 0).
 * Thread rule: one thread at a time per options handle. */
TXJ_C_EXPORT int txj_options_set_error_if_exists(txj_options_t* options, int value, char** errptr);
/* Open for reading only: no lock, nothing written or repaired; a crash tail
 * is reported in the recovery report and left as it is (default 0).
 * Thread rule: one thread at a time per options handle. */
TXJ_C_EXPORT int txj_options_set_read_only(txj_options_t* options, int value, char** errptr);
/* Segment file size in bytes, fixed when the journal is created: a multiple
 * of 4096, at least 65536 (checked by txj_open()).
 * Thread rule: one thread at a time per options handle. */
TXJ_C_EXPORT int txj_options_set_segment_size(txj_options_t* options, uint64_t bytes, char** errptr);
/* One of enum txj_durability; any other value is TXJ_INVALID_ARGUMENT here.
 * Thread rule: one thread at a time per options handle. */
TXJ_C_EXPORT int txj_options_set_durability(txj_options_t* options, int durability, char** errptr);
/* Under TXJ_DURABILITY_COMMIT, end each commit's page with padding (default
 * 1). See Options::pad_commits_to_page before turning it off.
 * Thread rule: one thread at a time per options handle. */
TXJ_C_EXPORT int txj_options_set_pad_commits_to_page(txj_options_t* options, int value, char** errptr);
/* Retired segment files kept to be reused as new segments (default 2; 0:
 * remove them). See Options::recycled_segments.
 * Thread rule: one thread at a time per options handle. */
TXJ_C_EXPORT int txj_options_set_recycled_segments(txj_options_t* options, uint64_t count, char** errptr);
/* Under TXJ_DURABILITY_NONE, map new segments with transparent huge pages
 * (non-zero, the default) or 4 KiB pages (0). See Options::huge_pages.
 * Thread rule: one thread at a time per options handle. */
TXJ_C_EXPORT int txj_options_set_huge_pages(txj_options_t* options, int value, char** errptr);
/* Background sync interval of TXJ_DURABILITY_PERIODIC, in milliseconds;
 * positive (checked by txj_open()).
 * Thread rule: one thread at a time per options handle. */
TXJ_C_EXPORT int txj_options_set_sync_interval_ms(txj_options_t* options, int64_t ms, char** errptr);
/* How often a cursor of another process polls when it cannot be woken, in
 * milliseconds; positive (checked by txj_open()).
 * Thread rule: one thread at a time per options handle. */
TXJ_C_EXPORT int txj_options_set_poll_interval_ms(txj_options_t* options, int64_t ms, char** errptr);
/* Permission bits of the files the journal creates: at most 0777, at least
 * 0600 (checked by txj_open()).
 * Thread rule: one thread at a time per options handle. */
TXJ_C_EXPORT int txj_options_set_file_mode(txj_options_t* options, unsigned mode, char** errptr);
/* Move a missing, damaged or foreign catalog aside and start a new one
 * instead of failing with TXJ_CORRUPTION (default 0).
 * Thread rule: one thread at a time per options handle. */
TXJ_C_EXPORT int txj_options_set_rebuild_catalog(txj_options_t* options, int value, char** errptr);
/* Adds `topic` (a C string) to the schema with the event types it may hold
 * (`types[0..ntypes)`, C strings; ntypes 0: any type). Once a schema is set,
 * appends of other topics or types and cursor filters naming them are
 * TXJ_INVALID_ARGUMENT. Adding a topic again replaces its types. Names are
 * checked by txj_open(). Errors: TXJ_INVALID_ARGUMENT (NULL options or
 * topic, types NULL with ntypes > 0, a NULL entry).
 * Thread rule: one thread at a time per options handle. */
TXJ_C_EXPORT int txj_options_add_schema_topic(txj_options_t* options, const char* topic,
                                              const char* const* types, size_t ntypes, char** errptr);

/* ---------------------------------------------------------------------
 * Opening and closing
 * ------------------------------------------------------------------- */

/* Opens (and, with create_if_missing, creates) the journal in directory
 * `dir` (C string), recovering from a crash if needed: a torn tail is cut, a
 * transaction left open is closed with a durable rollback marker; what was
 * done is in the recovery report (txj_recovery()). `options` may be NULL
 * for the defaults. On success *out is the new handle; on failure *out is
 * NULL and nothing is left behind by a failed create.
 * Errors: TXJ_INVALID_ARGUMENT (NULL dir or out; an option value that means
 * nothing, named in the message; error_if_exists and the journal exists),
 * TXJ_NOT_FOUND (missing and not create_if_missing), TXJ_BUSY (another
 * process writes it, or this process has it open for writing already),
 * TXJ_CORRUPTION (damage a crash cannot explain; file and offset named;
 * files left as they are), TXJ_NOT_SUPPORTED (format version),
 * TXJ_IO_ERROR, TXJ_NO_SPACE.
 * Thread rule: any thread. */
TXJ_C_EXPORT int txj_open(const char* dir, const txj_options_t* options, txj_journal_t** out, char** errptr);

/* Syncs, seals the active segment, releases the lock and frees `journal`.
 * Every transaction and cursor handle made from it must have been freed
 * first: otherwise returns TXJ_INVALID_STATE, does nothing, and the handle
 * stays valid. In every other case the handle is freed, also when closing
 * reports an error (TXJ_IO_ERROR, TXJ_NO_SPACE, TXJ_FAILED: what survived is
 * decided by recovery at the next open). NULL: TXJ_INVALID_ARGUMENT.
 * Thread rule: no other thread may use the handle during or after the call. */
TXJ_C_EXPORT int txj_close(txj_journal_t* journal, char** errptr);

/* Makes everything written so far durable, whatever the durability mode.
 * Errors: TXJ_INVALID_ARGUMENT, TXJ_INVALID_STATE (read-only), TXJ_FAILED,
 * TXJ_IO_ERROR, TXJ_NO_SPACE. Thread rule: any thread. */
TXJ_C_EXPORT int txj_sync(txj_journal_t* journal, char** errptr);

/* ---------------------------------------------------------------------
 * Recovery report (txj::RecoveryReport): what txj_open() found and
 * repaired. Fixed when the journal is opened. Thread rule: any thread.
 * ------------------------------------------------------------------- */

typedef struct txj_recovery_info {
  int created;             /* 1: this open created the journal */
  int catalog_rebuilt;     /* 1: the catalog was missing or stale and was rebuilt */
  uint64_t scanned_bytes;  /* bytes read to find the tail */
  uint64_t start_lsn;      /* where the scan began (a checkpoint) */
  uint64_t end_lsn;        /* end of valid data after repair */
  uint64_t next_offset;    /* offset the next committed event gets */
  uint64_t next_txn_id;
  size_t repair_count;     /* repairs made (0: the journal was clean); see txj_recovery_repair() */
  size_t note_count;       /* other observations; see txj_recovery_note() */
} txj_recovery_info_t;

typedef struct txj_recovery_repair {
  const char* file;        /* C string: segment file that was repaired */
  uint64_t file_offset;    /* byte offset inside that file where the cut is */
  uint64_t lsn;            /* journal address of the cut */
  uint64_t bytes_dropped;
  const char* reason;      /* C string: "torn record", "open transaction rolled back", ... */
} txj_recovery_repair_t;

/* Fills *out. Errors: TXJ_INVALID_ARGUMENT (NULL argument).
 * Thread rule: any thread. */
TXJ_C_EXPORT int txj_recovery(const txj_journal_t* journal, txj_recovery_info_t* out, char** errptr);
/* Fills *out with repair `index` (< repair_count). Its strings belong to the
 * journal and stay valid until txj_close(). Errors: TXJ_INVALID_ARGUMENT
 * (NULL argument), TXJ_NOT_FOUND (index out of range).
 * Thread rule: any thread. */
TXJ_C_EXPORT int txj_recovery_repair(const txj_journal_t* journal, size_t index, txj_recovery_repair_t* out,
                                     char** errptr);
/* Sets *note to note `index` (< note_count), a C string valid until
 * txj_close(). Errors: as txj_recovery_repair().
 * Thread rule: any thread. */
TXJ_C_EXPORT int txj_recovery_note(const txj_journal_t* journal, size_t index, const char** note, char** errptr);
/* Sets *out to the whole report as text (one repair per line), allocated
 * for you: free it with txj_free(). Errors: TXJ_INVALID_ARGUMENT,
 * TXJ_NO_SPACE.
 * Thread rule: any thread. */
TXJ_C_EXPORT int txj_recovery_string(const txj_journal_t* journal, char** out, char** errptr);

/* ---------------------------------------------------------------------
 * Journal statistics
 * ------------------------------------------------------------------- */

typedef struct txj_stats {
  uint64_t next_offset;  /* offset the next committed event gets (= committed events ever) */
  uint64_t first_offset; /* first offset still retained (compaction and retention move it) */
  uint64_t visible_lsn;  /* LSN just past the last record readers may see */
  int read_only;         /* 1: opened read-only */
  int durability;        /* enum txj_durability the journal was opened with */
  uint64_t segment_size; /* segment size the options asked for (a journal that exists keeps its own) */
  char identity[33];     /* the journal's 128-bit identity, 32 hex digits and a NUL */
} txj_stats_t;

/* Fills *out with the journal's counters as of now. Errors:
 * TXJ_INVALID_ARGUMENT. Thread rule: any thread. */
TXJ_C_EXPORT int txj_stats(const txj_journal_t* journal, txj_stats_t* out, char** errptr);

typedef struct txj_topic_info {
  const char* name;      /* C string, inside the block returned by txj_topics() */
  uint64_t events;       /* committed events counted (compacted ones included) */
  uint64_t bytes;        /* their payload bytes */
  uint64_t first_offset; /* first event counted */
  uint64_t last_offset;  /* last event counted */
} txj_topic_info_t;

/* The journal's topics with their counts (from the catalog, which follows
 * commits a little behind, at each checkpoint; or from a scan without a
 * catalog). On success *out is one allocated block holding *count entries
 * and their names: free it with a single txj_free(*out). *out is NULL when
 * there are no topics. Errors: TXJ_INVALID_ARGUMENT, TXJ_CORRUPTION,
 * TXJ_IO_ERROR, TXJ_NO_SPACE. Thread rule: any thread. */
TXJ_C_EXPORT int txj_topics(txj_journal_t* journal, txj_topic_info_t** out, size_t* count, char** errptr);

/* ---------------------------------------------------------------------
 * Write transactions (transaction.h). Semantics, as in C++:
 *  - One top-level write transaction is open at a time per journal.
 *  - txj_txn_begin() opens a sub-transaction inside any open transaction,
 *    to any depth. Its events join its parent when it commits; readers see
 *    them only when the top-level transaction commits.
 *  - Rolling back a sub-transaction discards its events and those of all
 *    its descendants (also descendants that had committed into it); the
 *    parent goes on and can still commit.
 *  - While a transaction has an open child it accepts nothing but the end
 *    of that child: append, begin, commit and rollback on it return
 *    TXJ_INVALID_STATE.
 *  - Every begin, commit and rollback writes a marker as it happens, so a
 *    reader replaying the journal commits and rolls back exactly as the
 *    producer did.
 * Lifetime: txj_txn_commit() and txj_txn_rollback() free the handle,
 * whatever they return (except TXJ_INVALID_ARGUMENT for a NULL handle). A
 * transaction whose handle is freed by a failed commit or rollback is
 * rolled back with its open descendants; the descendants' handles stay
 * allocated, and every call on them then returns TXJ_INVALID_STATE until
 * they are freed with txj_txn_rollback().
 * Thread rule: a transaction tree is used by one thread at a time.
 * ------------------------------------------------------------------- */

typedef struct txj_commit_info {
  uint64_t txn_id;       /* top-level transaction id */
  uint32_t sub_id;       /* sub-transaction id inside txn_id; 0 for the top level */
  uint64_t first_offset; /* top level: offset of its first event (count 0: the next offset);
                            sub-transaction: not known yet, 0 */
  uint64_t count;        /* events committed (sub-transaction: handed to its parent) */
  uint64_t lsn;          /* LSN just past the commit marker */
} txj_commit_info_t;

/* Opens a top-level write transaction, waiting while another thread's is
 * open. Errors: TXJ_INVALID_ARGUMENT, TXJ_INVALID_STATE (read-only journal,
 * or this thread holds the open top-level transaction already: waiting
 * would never end; use txj_txn_begin()), TXJ_CLOSED, TXJ_FAILED,
 * TXJ_IO_ERROR, TXJ_NO_SPACE. Thread rule: any thread; the new tree then
 * belongs to it. */
TXJ_C_EXPORT int txj_begin(txj_journal_t* journal, txj_txn_t** out, char** errptr);
/* As txj_begin(), but returns TXJ_BUSY at once if another thread's
 * transaction is open. */
TXJ_C_EXPORT int txj_try_begin(txj_journal_t* journal, txj_txn_t** out, char** errptr);
/* As txj_begin(), but returns TXJ_TIMED_OUT after `timeout_ms`
 * milliseconds (0: do not wait).
 * Thread rule: as txj_begin(). */
TXJ_C_EXPORT int txj_begin_timeout(txj_journal_t* journal, uint64_t timeout_ms, txj_txn_t** out,
                                   char** errptr);

/* Opens a sub-transaction of `parent` (which may itself be one) and sets
 * *out. Errors: TXJ_INVALID_ARGUMENT, TXJ_INVALID_STATE (parent ended or has
 * an open child), TXJ_IO_ERROR, TXJ_NO_SPACE, TXJ_FAILED.
 * Thread rule: the thread using the tree; the child belongs to the same tree. */
TXJ_C_EXPORT int txj_txn_begin(txj_txn_t* parent, txj_txn_t** out, char** errptr);

/* Appends one event of `topic` and `type` (C strings; type may be "") with
 * payload bytes (payload, payload_len), without a key, stamped with the
 * transaction's time. Errors: TXJ_INVALID_ARGUMENT (NULL argument; topic
 * empty, not UTF-8, with control characters or over 255 bytes; a type or
 * schema violation; payload too big for a segment), TXJ_INVALID_STATE
 * (ended, a child open, or a read-only journal), TXJ_IO_ERROR, TXJ_NO_SPACE,
 * TXJ_FAILED.
 * Thread rule: the thread using the tree. */
TXJ_C_EXPORT int txj_txn_append(txj_txn_t* txn, const char* topic, const char* type, const void* payload,
                                size_t payload_len, char** errptr);
/* As txj_txn_append(), with a key and a timestamp. key NULL (with key_len 0)
 * means no key; a non-NULL key of length 0 is the empty key; keys are bytes,
 * at most 65535. timestamp_ns: nanoseconds since the Unix epoch, 0 for the
 * transaction's time (taken when its top level began).
 * Thread rule: the thread using the tree. */
TXJ_C_EXPORT int txj_txn_append_ex(txj_txn_t* txn, const char* topic, const char* type, const void* key,
                                   size_t key_len, const void* payload, size_t payload_len,
                                   uint64_t timestamp_ns, char** errptr);

/* One event of txj_txn_append_batch(): topic and type are C strings (type
 * may be ""); key NULL (with key_len 0) means no key; timestamp_ns 0 means
 * the transaction's time. */
typedef struct txj_new_event {
  const char* topic;
  const char* type;
  const void* key;
  size_t key_len;
  const void* payload;
  size_t payload_len;
  uint64_t timestamp_ns;
} txj_new_event_t;

/* Appends events[0..n) in order, as n txj_txn_append_ex() calls would, in
 * one call (n 0: nothing). Every event is checked first: when one is invalid
 * (TXJ_INVALID_ARGUMENT, the message names its index) nothing of the batch
 * is appended. Other errors as txj_txn_append(); the batch is then partly
 * written and the transaction can only roll back.
 * Thread rule: the thread using the tree. */
TXJ_C_EXPORT int txj_txn_append_batch(txj_txn_t* txn, const txj_new_event_t* events, size_t n, char** errptr);

/* Zero-copy append, for payloads built in place. Reserves an event of
 * `topic` and `type` with `size` payload bytes inside the journal's own
 * buffer and sets *payload to those bytes (exactly `size`, uninitialised)
 * and *out to the claim. Fill them, then txj_claim_publish(); or
 * txj_claim_cancel() to drop the event (a padding record then stands in its
 * place). Until the claim ends, the whole transaction tree accepts nothing
 * else (TXJ_INVALID_STATE); rolling the transaction back cancels the claim,
 * whose handle must still be freed by txj_claim_publish() (which then
 * returns TXJ_INVALID_STATE) or txj_claim_cancel(). Errors as
 * txj_txn_append(). Thread rule: the thread using the tree. */
typedef struct txj_claim txj_claim_t;
TXJ_C_EXPORT int txj_txn_claim(txj_txn_t* txn, const char* topic, const char* type, size_t size, void** payload,
                               txj_claim_t** out, char** errptr);
/* Appends the claimed event with the bytes now in its payload, and frees
 * the handle whatever the result. Errors: TXJ_INVALID_ARGUMENT (NULL:
 * nothing freed), TXJ_INVALID_STATE (its transaction ended meanwhile).
 * Thread rule: the thread using the tree. */
TXJ_C_EXPORT int txj_claim_publish(txj_claim_t* claim, char** errptr);
/* Drops the claimed event (if still open) and frees the handle. Errors:
 * TXJ_INVALID_ARGUMENT (NULL). Thread rule: the thread using the tree. */
TXJ_C_EXPORT int txj_claim_cancel(txj_claim_t* claim, char** errptr);

/* Commits `txn` and frees the handle. For the top level, returns once the
 * commit is as durable as the journal's durability mode promises. `info`
 * may be NULL; on TXJ_OK it is filled. Errors: TXJ_INVALID_ARGUMENT (NULL
 * txn: nothing freed), TXJ_INVALID_STATE (already ended, or a child is
 * open: the transaction is then rolled back with its descendants),
 * TXJ_IO_ERROR, TXJ_NO_SPACE, TXJ_FAILED (a sync failed: nothing is
 * promised about this transaction; close and reopen to see what survived).
 * Thread rule: the thread using the tree. */
TXJ_C_EXPORT int txj_txn_commit(txj_txn_t* txn, txj_commit_info_t* info, char** errptr);
/* Rolls back `txn` and every descendant and frees the handle. Errors:
 * TXJ_INVALID_ARGUMENT (NULL: nothing freed), TXJ_INVALID_STATE (already
 * ended, e.g. by an ancestor; or a child is open: then the transaction is
 * rolled back with its descendants all the same), TXJ_IO_ERROR.
 * Thread rule: the thread using the tree. */
TXJ_C_EXPORT int txj_txn_rollback(txj_txn_t* txn, char** errptr);

/* Facts about an open or ended transaction handle: the top-level id,
 * the sub-transaction id (0 for the top level), the depth (0 for the top
 * level) and whether it is still open (1) or ended (0). Any out-pointer may
 * be NULL. Errors: TXJ_INVALID_ARGUMENT (NULL txn).
 * Thread rule: the thread using the tree. */
TXJ_C_EXPORT int txj_txn_info(const txj_txn_t* txn, uint64_t* txn_id, uint32_t* sub_id, uint32_t* depth,
                              int* is_open, char** errptr);

/* ---------------------------------------------------------------------
 * Cursors (cursor.h): committed events in commit order, dense offsets.
 * Thread rule: one thread at a time calls txj_cursor_next(),
 * txj_cursor_wait() and txj_cursor_position(); txj_cursor_close() may be
 * called from any thread, also while another waits.
 * ------------------------------------------------------------------- */

/* One committed event. The pointers are views into the journal (no copy),
 * valid until the next call on the cursor that returned the event
 * (next, wait, close, destroy); copy what you need to keep. Strings are NOT
 * NUL-terminated: use the lengths. Pointers are never NULL, except `key`
 * when the event has no key (has_key 0); empty fields point at "". */
typedef struct txj_event {
  uint64_t offset;       /* dense position in the committed view: 0, 1, 2, ... */
  uint64_t txn_id;       /* top-level transaction that committed it */
  uint64_t timestamp_ns; /* nanoseconds since the Unix epoch */
  uint64_t lsn;          /* byte address of the event's record */
  const char* topic;
  size_t topic_len;
  const char* type;
  size_t type_len;
  int has_key;           /* 1: key/key_len hold the key (possibly empty) */
  const void* key;
  size_t key_len;
  const void* payload;
  size_t payload_len;
} txj_event_t;

/* Opens a cursor at `offset` over the committed view. It returns events
 * whose topic is one of topics[0..ntopics) and whose type is one of
 * types[0..ntypes) (C strings); an empty list matches any; both empty: every
 * event. Events that do not match still advance the cursor. Errors:
 * TXJ_INVALID_ARGUMENT (NULL journal or out, a list NULL with a non-zero
 * count or holding NULL, a filter naming a topic or type the schema rules
 * out), TXJ_TRUNCATED (offset below the first retained event), TXJ_CLOSED,
 * TXJ_NO_SPACE. Thread rule: any thread. */
TXJ_C_EXPORT int txj_cursor_open(txj_journal_t* journal, uint64_t offset, const char* const* topics,
                                 size_t ntopics, const char* const* types, size_t ntypes, txj_cursor_t** out,
                                 char** errptr);

/* Reads the next matching committed event into *event and sets *found to
 * 1; at the end of what is committed now, sets *found to 0 and returns
 * TXJ_OK. Errors: TXJ_INVALID_ARGUMENT (NULL argument), TXJ_CLOSED (cursor
 * closed), TXJ_TRUNCATED (the next event lies in dropped history),
 * TXJ_CORRUPTION (damaged record; file and byte offset named).
 * Thread rule: one thread at a time per cursor. */
TXJ_C_EXPORT int txj_cursor_next(txj_cursor_t* cursor, txj_event_t* event, int* found, char** errptr);

/* Reads up to `cap` matching committed events into events[0..cap) and sets
 * *count to how many (0: the end of what is committed now). The fast way
 * to replay: one call per batch. The events' pointers stay valid until the
 * next call on the cursor. An error met after some events were read is
 * returned by the next call (those events come first). Errors as
 * txj_cursor_next(); cap 0: TXJ_INVALID_ARGUMENT.
 * Thread rule: one thread at a time per cursor. */
TXJ_C_EXPORT int txj_cursor_next_batch(txj_cursor_t* cursor, txj_event_t* events, size_t cap, size_t* count,
                                       char** errptr);

/* As txj_cursor_next(), but at the end waits until a matching event is
 * committed (in this or another process), for at most `timeout_ms`
 * milliseconds (negative: no limit; 0: do not wait). Errors besides
 * txj_cursor_next()'s: TXJ_TIMED_OUT when the time passes, TXJ_CLOSED when
 * the cursor is closed meanwhile (txj_cursor_close() from another thread). */
TXJ_C_EXPORT int txj_cursor_wait(txj_cursor_t* cursor, int64_t timeout_ms, txj_event_t* event, char** errptr);

/* Sets *offset to the offset the next returned event will have at least.
 * Errors: TXJ_INVALID_ARGUMENT.
 * Thread rule: one thread at a time per cursor. */
TXJ_C_EXPORT int txj_cursor_position(const txj_cursor_t* cursor, uint64_t* offset, char** errptr);

/* Closes the cursor and wakes a txj_cursor_wait() in another thread; the
 * handle stays allocated (free it with txj_cursor_destroy()), and every
 * later read on it returns TXJ_CLOSED. A second close returns TXJ_CLOSED.
 * Errors: TXJ_INVALID_ARGUMENT. Thread rule: any thread. */
TXJ_C_EXPORT int txj_cursor_close(txj_cursor_t* cursor, char** errptr);

/* Closes the cursor if it is open and frees the handle. NULL is ignored.
 * Always TXJ_OK. Thread rule: no other thread may use the cursor during or
 * after the call. */
TXJ_C_EXPORT int txj_cursor_destroy(txj_cursor_t* cursor);

/* ---------------------------------------------------------------------
 * Compaction (compactor.h) with the built-in latest-by-key compactor:
 * the last event of each key wins; an event whose type equals the
 * tombstone type deletes its key; an event without a key is an error
 * (TXJ_INVALID_ARGUMENT naming its offset) when the topic is folded.
 * Thread rule: any thread (compaction never blocks the writer).
 * ------------------------------------------------------------------- */

/* Registers the latest-by-key compactor for `topic` (replacing an earlier
 * one), with `tombstone_type` (C string; NULL: "tombstone"). With
 * every_events or every_bytes non-zero, the journal compacts the topic by
 * itself in a background thread after that many new events or payload bytes
 * of it. Errors: TXJ_INVALID_ARGUMENT. */
TXJ_C_EXPORT int txj_register_latest_by_key(txj_journal_t* journal, const char* topic, const char* tombstone_type,
                                            uint64_t every_events, uint64_t every_bytes, char** errptr);

typedef struct txj_snapshot_info {
  uint64_t covered_offset; /* the topic's events below this offset are folded in */
  uint64_t events_folded;  /* the topic's events folded in, in total */
  uint64_t size;           /* bytes of the encoded state */
  uint32_t compactor_version;
  char state_hash[33];     /* XXH3-128 of the encoded state: 32 hex digits and a NUL */
} txj_snapshot_info_t;

/* Folds the topic's committed events into a new snapshot (durable before
 * anything is removed), then rewrites sealed segments without the events
 * it covers; other topics are untouched. Afterwards a cursor asking for the
 * covered events of this topic gets TXJ_TRUNCATED. `info` may be NULL.
 * Errors: TXJ_INVALID_ARGUMENT, TXJ_NOT_FOUND (no compactor registered for
 * the topic), TXJ_INVALID_STATE (read-only), TXJ_CORRUPTION, TXJ_IO_ERROR,
 * TXJ_NO_SPACE.
 * Thread rule: any thread; never blocks the writer. */
TXJ_C_EXPORT int txj_compact(txj_journal_t* journal, const char* topic, txj_snapshot_info_t* info, char** errptr);

/* Drops every event below `min_offset`, whatever its topic (durable before
 * anything is removed). Errors: TXJ_INVALID_ARGUMENT (past the committed
 * end), TXJ_INVALID_STATE (read-only), TXJ_IO_ERROR, TXJ_NO_SPACE.
 * Thread rule: any thread. */
TXJ_C_EXPORT int txj_apply_retention(txj_journal_t* journal, uint64_t min_offset, char** errptr);

/* Rebuilds the topic's latest-by-key state: the newest usable snapshot plus
 * the committed events after it, equal byte for byte to a fold over the
 * whole history. Uses the compactor registered for the topic, or a
 * latest-by-key compactor with tombstone "tombstone" when none is (so a
 * read-only journal can be rebuilt too). On success *out is a new state
 * handle; free it with txj_state_destroy(). It does not depend on the
 * journal and may outlive it. Errors: TXJ_INVALID_ARGUMENT,
 * TXJ_NOT_SUPPORTED (the registered compactor is not latest-by-key),
 * TXJ_CORRUPTION, TXJ_IO_ERROR, TXJ_NO_SPACE.
 * Thread rule: any thread. */
TXJ_C_EXPORT int txj_rebuild(txj_journal_t* journal, const char* topic, txj_state_t** out, char** errptr);

typedef struct txj_state_info {
  char state_hash[33];    /* XXH3-128 of the encoded state: 32 hex digits and a NUL */
  uint64_t next_offset;   /* events below this offset (of any topic) are reflected */
  uint64_t from_snapshot; /* covered offset of the snapshot used (0: none) */
  uint64_t events_applied;/* events applied after the snapshot */
  size_t key_count;       /* live keys */
} txj_state_info_t;

/* Thread rule for state handles: read-only calls from any threads; destroy
 * from one, when no other uses it. */

/* Fills *out. Errors: TXJ_INVALID_ARGUMENT.
 * Thread rule: any threads at once. */
TXJ_C_EXPORT int txj_state_info(const txj_state_t* state, txj_state_info_t* out, char** errptr);
/* Looks `key` (key, key_len bytes) up: *found 1 and *value, *value_len the
 * payload of its latest event, or *found 0. The value stays valid until
 * txj_state_destroy(). Errors: TXJ_INVALID_ARGUMENT.
 * Thread rule: any threads at once. */
TXJ_C_EXPORT int txj_state_get(const txj_state_t* state, const void* key, size_t key_len, const void** value,
                               size_t* value_len, int* found, char** errptr);
/* Entry `index` (< key_count) in key byte order: key and value views valid
 * until txj_state_destroy(). Errors: TXJ_INVALID_ARGUMENT, TXJ_NOT_FOUND
 * (index out of range).
 * Thread rule: any threads at once. */
TXJ_C_EXPORT int txj_state_entry(const txj_state_t* state, size_t index, const void** key, size_t* key_len,
                                 const void** value, size_t* value_len, char** errptr);
/* The deterministic encoding whose hash is state_hash: a view valid until
 * txj_state_destroy(). Errors: TXJ_INVALID_ARGUMENT.
 * Thread rule: any threads at once. */
TXJ_C_EXPORT int txj_state_encoded(const txj_state_t* state, const void** data, size_t* size, char** errptr);
/* Frees the state. NULL is ignored. Always TXJ_OK.
 * Thread rule: when no other thread uses the state. */
TXJ_C_EXPORT int txj_state_destroy(txj_state_t* state);

/* ---------------------------------------------------------------------
 * Consumer offsets (offset_store.h): named consumers' next offsets, kept
 * durably in the journal's catalog. Unlike the rest of the catalog they are
 * not derived from the journal: once one is saved, a damaged catalog is an
 * error at open instead of a silent rebuild (see txj_options_set_rebuild_catalog).
 * Thread rule: any thread.
 * ------------------------------------------------------------------- */

/* Sets *next_offset to the consumer's saved next offset (0 when it has
 * none). `consumer` is a non-empty C string. Errors: TXJ_INVALID_ARGUMENT,
 * TXJ_INVALID_STATE (read-only journal or no catalog), TXJ_CORRUPTION (a
 * malformed stored offset), TXJ_IO_ERROR.
 * Thread rule: any thread. */
TXJ_C_EXPORT int txj_offset_load(txj_journal_t* journal, const char* consumer, uint64_t* next_offset,
                                 char** errptr);
/* Saves the consumer's next offset durably (one LMDB transaction). Errors:
 * TXJ_INVALID_ARGUMENT (NULL or empty consumer), TXJ_INVALID_STATE
 * (read-only journal or no catalog), TXJ_IO_ERROR, TXJ_NO_SPACE.
 * Thread rule: any thread. */
TXJ_C_EXPORT int txj_offset_save(txj_journal_t* journal, const char* consumer, uint64_t next_offset,
                                 char** errptr);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif /* TXJOURNAL_C_H_ */
