// txjournal: symbol visibility. The library is built with hidden symbols
// (gnu_symbol_visibility: inlineshidden); the public API carries TXJ_EXPORT.
#ifndef TXJOURNAL_EXPORT_H_
#define TXJOURNAL_EXPORT_H_

#define TXJ_EXPORT [[gnu::visibility("default")]]

#endif  // TXJOURNAL_EXPORT_H_
