import Foundation

/// malloc settings for a short-lived command that builds a few MB of model:
/// glibc serves blocks over 128 KiB from fresh mmaps and hands them back on
/// free, so every regrown array faults its pages in again. Keeping large blocks
/// on the heap and not trimming it makes freed memory reusable; the process
/// lives for milliseconds, so holding on to it costs nothing.
public enum Allocator {
  nonisolated(unsafe) private static var short = false
  nonisolated(unsafe) private static var kept: [Any] = []
  private static let keptLock = NSLock()

  public static func tuneForShortCommand() {
    short = true
    #if os(Linux)
      // glibc's <malloc.h>: M_TRIM_THRESHOLD -1, M_TOP_PAD -2, M_MMAP_THRESHOLD -3.
      _ = glibcMallopt(-3, 64 << 20)
      _ = glibcMallopt(-1, 256 << 20)
      _ = glibcMallopt(-2, 8 << 20)
      // One arena for every thread (M_ARENA_MAX -8): a background thread's own arena
      // is a fresh mmap whose every page faults in alone; the main one is in huge
      // pages (below). Its lock is taken by a handful of threads, briefly.
      _ = glibcMallopt(-8, 1)
      // And the first 8 MB of heap in 2 MB pages: a tick over 1,000 runs touches a few
      // MB, and in a VM each 4 KiB page's first-touch fault costs microseconds (a third
      // of such a tick's CPU went to ~600 of them). Where the kernel has no
      // transparent huge pages the advice is ignored.
      if let block = malloc(8 << 20) {
        let page = 4096
        let lo = (Int(bitPattern: block) + page - 1) & ~(page - 1)
        let hi = (Int(bitPattern: block) + (8 << 20)) & ~(page - 1)
        _ = madvise(UnsafeMutableRawPointer(bitPattern: lo), hi - lo, 14)  // MADV_HUGEPAGE
        free(block)  // stays in the heap: trimming is off
      }
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
