#if canImport(Glibc)
  import Glibc
#endif

/// Phase timings for profiling a command: with `SLUICE_TRACE=1` in the
/// environment, each `Trace.mark` prints the milliseconds since the process
/// started its `main` to stderr. Off, a mark costs one load of a flag.
public enum Trace {
  public static let enabled: Bool = getenv("SLUICE_TRACE") != nil
  static let start: Double = monotonic()

  static func monotonic() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
  }

  /// Starts the clock (call first thing in main).
  public static func begin() { if enabled { _ = start } }

  public static func mark(_ what: @autoclosure () -> String) {
    guard enabled else { return }
    let ms = (monotonic() - start) * 1000
    let line =
      "[trace] " + String(Int(ms * 10) / 10) + "." + String(Int(ms * 10) % 10) + " ms " + what() + "\n"
    var bytes = Array(line.utf8)
    _ = write(2, &bytes, bytes.count)
  }
}
