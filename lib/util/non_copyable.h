// A base for classes that own a resource (a descriptor, a mapping, a lock, a
// process) and so must be neither copied nor assigned.
#ifndef TXJOURNAL_LIB_NON_COPYABLE_H_
#define TXJOURNAL_LIB_NON_COPYABLE_H_

namespace txj::internal {

class NonCopyable {
 public:
  NonCopyable(const NonCopyable&) = delete;
  NonCopyable& operator=(const NonCopyable&) = delete;

 protected:
  NonCopyable() = default;
  ~NonCopyable() = default;
};

}  // namespace txj::internal

#endif  // TXJOURNAL_LIB_NON_COPYABLE_H_
