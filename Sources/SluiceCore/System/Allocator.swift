/// malloc settings for a short-lived command that builds a few MB of model:
/// glibc serves blocks over 128 KiB from fresh mmaps and hands them back on
/// free, so every regrown array faults its pages in again. Keeping large blocks
/// on the heap and not trimming it makes freed memory reusable; the process
/// lives for milliseconds, so holding on to it costs nothing.
public enum Allocator {
  public static func tuneForShortCommand() {
    #if os(Linux)
      // glibc's <malloc.h>: M_TRIM_THRESHOLD -1, M_TOP_PAD -2, M_MMAP_THRESHOLD -3.
      _ = glibcMallopt(-3, 64 << 20)
      _ = glibcMallopt(-1, 256 << 20)
      _ = glibcMallopt(-2, 8 << 20)
    #endif
  }
}

#if os(Linux)
  @_silgen_name("mallopt")
  private func glibcMallopt(_ param: Int32, _ value: Int32) -> Int32
#endif
