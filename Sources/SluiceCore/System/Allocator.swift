import FoundationEssentials
import Glibc

/// malloc settings for a short-lived command that builds a few MB of model:
/// glibc serves blocks over 128 KiB from fresh mmaps and hands them back on
/// free, so every regrown array faults its pages in again. Keeping large blocks
/// on the heap and not trimming it makes freed memory reusable; the process
/// lives for milliseconds, so holding on to it costs nothing.
public enum Allocator {
  nonisolated(unsafe) private static var short = false
  nonisolated(unsafe) private static var kept: [Any] = []
  private static let keptLock = Lock()

  public static func tuneForShortCommand() {
    short = true
    #if os(Linux)
      // glibc's <malloc.h>: M_TRIM_THRESHOLD -1, M_TOP_PAD -2, M_MMAP_THRESHOLD -3.
      _ = glibcMallopt(-3, 64 << 20)
      _ = glibcMallopt(-1, 256 << 20)
      _ = glibcMallopt(-2, 8 << 20)
      // One arena for every thread (M_ARENA_MAX -8): a background thread's own arena
      // is a fresh mmap whose every page faults in alone. Its lock is taken by a
      // handful of threads, briefly.
      _ = glibcMallopt(-8, 1)
    // No transparent huge pages (tried): in this VM a 2 MB page's first fault
    // often lands on guest memory the host has not backed yet, a 5-8 ms stall;
    // even with the advised range aligned (2 such faults instead of ~500 small
    // ones), 1,000-run ticks were slower, 27 ms against 20 (medians of 8). Nor
    // prefaulting the heap from a thread (MADV_POPULATE_WRITE): no faster.
    #endif
  }

  /// For a short command, keeps `value` alive until the process exits: releasing a
  /// tick's thousands of runs string by string costs more than their making (~10%
  /// of a quiet tick), and exit gives the pages back at once. Elsewhere (tests, a
  /// long process) it does nothing.
  public static func keepUntilExit(_ value: Any) {
    guard short else { return }
    keptLock.lock()
    kept.append(value)
    keptLock.unlock()
  }
}

#if os(Linux)
  @_silgen_name("mallopt")
  private func glibcMallopt(_ param: Int32, _ value: Int32) -> Int32
#endif
