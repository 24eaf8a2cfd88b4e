/* txjournal C quickstart: nested transactions, a cursor, compaction and a
 * consumer offset, through the C API (include/txjournal/c.h).
 *
 *   cc -std=c11 quickstart.c $(pkg-config --cflags --libs txjournal) -o quickstart
 *   ./quickstart /tmp/quickstart-journal
 *
 * Every call returns a status code (TXJ_OK is 0) and, on failure, a message
 * in `err` that the next call frees (txj_free() the last one).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <txjournal/c.h>

/* Prints the failed call's message and leaves. */
#define TRY(call)                                                                       \
  do {                                                                                  \
    int rc_ = (call);                                                                   \
    if (rc_ != TXJ_OK) {                                                                \
      fprintf(stderr, "%s failed (%s): %s\n", #call, txj_code_name(rc_), err ? err : ""); \
      txj_free(err);                                                                    \
      return 1;                                                                         \
    }                                                                                   \
  } while (0)

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s JOURNAL_DIR\n", argv[0]);
    return 2;
  }
  char* err = NULL; /* the last call's message, if it failed */

  /* Open (created if missing). Commits are durable when they return. */
  txj_options_t* options = NULL;
  txj_journal_t* journal = NULL;
  TRY(txj_options_create(&options, &err));
  TRY(txj_options_set_durability(options, TXJ_DURABILITY_COMMIT, &err));
  TRY(txj_open(argv[1], options, &journal, &err));
  txj_options_destroy(options);

  txj_recovery_info_t recovery;
  TRY(txj_recovery(journal, &recovery, &err));
  printf("opened %s: %s, %zu repairs, next offset %" PRIu64 "\n", argv[1],
         recovery.created ? "created" : "existing", recovery.repair_count, recovery.next_offset);

  /* A transaction with a sub-transaction that rolls back. */
  txj_txn_t* tx = NULL;
  txj_txn_t* sub = NULL;
  txj_commit_info_t info;
  TRY(txj_begin(journal, &tx, &err));
  TRY(txj_txn_append_ex(tx, "orders", "created", "o-1", 3, "{\"id\":1}", 8, 0, &err));
  TRY(txj_txn_begin(tx, &sub, &err));
  TRY(txj_txn_append(sub, "stock", "reserved", "sku-7", 5, &err));
  TRY(txj_txn_rollback(sub, &err)); /* frees sub; its event is discarded, tx goes on */
  TRY(txj_txn_append_ex(tx, "orders", "paid", "o-1", 3, "{\"id\":1,\"paid\":true}", 20, 0, &err));
  TRY(txj_txn_commit(tx, &info, &err)); /* frees tx */
  printf("committed transaction %" PRIu64 ": %" PRIu64 " events from offset %" PRIu64 "\n", info.txn_id,
         info.count, info.first_offset);

  /* Read the orders topic from where this consumer left off. */
  uint64_t from = 0;
  TRY(txj_offset_load(journal, "quickstart", &from, &err));
  const char* topics[] = {"orders"};
  txj_cursor_t* cursor = NULL;
  TRY(txj_cursor_open(journal, from, topics, 1, NULL, 0, &cursor, &err));
  txj_event_t ev;
  int found = 0;
  for (;;) {
    TRY(txj_cursor_next(cursor, &ev, &found, &err));
    if (!found) break;
    /* Views into the journal, valid until the next call on the cursor. */
    printf("  %" PRIu64 " txn %" PRIu64 " %.*s/%.*s key %.*s: %.*s\n", ev.offset, ev.txn_id, (int)ev.topic_len,
           ev.topic, (int)ev.type_len, ev.type, ev.has_key ? (int)ev.key_len : 1,
           ev.has_key ? (const char*)ev.key : "-", (int)ev.payload_len, (const char*)ev.payload);
  }
  uint64_t next = 0;
  TRY(txj_cursor_position(cursor, &next, &err));
  TRY(txj_offset_save(journal, "quickstart", next, &err));
  /* Nothing more is committed: waiting ends with TXJ_TIMED_OUT. */
  int rc = txj_cursor_wait(cursor, 10, &ev, &err);
  printf("wait 10 ms: %s\n", txj_code_name(rc));
  txj_cursor_destroy(cursor);

  /* Keep the latest order state per key, and fold the history away. */
  TRY(txj_register_latest_by_key(journal, "orders", NULL, 0, 0, &err));
  txj_snapshot_info_t snap;
  TRY(txj_compact(journal, "orders", &snap, &err));
  txj_state_t* state = NULL;
  txj_state_info_t si;
  TRY(txj_rebuild(journal, "orders", &state, &err));
  TRY(txj_state_info(state, &si, &err));
  printf("orders: %zu keys, state hash %s (snapshot %s)\n", si.key_count, si.state_hash, snap.state_hash);
  const void* value = NULL;
  size_t value_len = 0;
  TRY(txj_state_get(state, "o-1", 3, &value, &value_len, &found, &err));
  if (found) printf("o-1 = %.*s\n", (int)value_len, (const char*)value);
  txj_state_destroy(state);

  txj_stats_t stats;
  TRY(txj_stats(journal, &stats, &err));
  printf("journal %s: %" PRIu64 " events committed, first retained %" PRIu64 "\n", stats.identity,
         stats.next_offset, stats.first_offset);

  TRY(txj_close(journal, &err)); /* every transaction and cursor freed first */
  txj_free(err);
  return 0;
}
